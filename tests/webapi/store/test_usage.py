"""Usage: every attempt that ends, whatever ended it, is added to the hourly rollup in
the same transaction, exactly; the reports read the rollup by index, never the attempts
(EXPLAIN); cost is priced at read from the price table."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from shared.enums import Capacity, JobStatus
from tests.support.queue import bulk_jobs, claimant, expire_leases, make_queue, make_user
from webapi.store import usage
from webapi.store.records import Claimant

# What each attempt used, from its own row: its run time (claim to end) × its size.
_ATTEMPTS = """
SELECT j.user_id, j.type, count(*) AS attempts,
       sum(extract(epoch FROM a.completed_at - a.created_at)) AS run_seconds,
       sum(extract(epoch FROM a.completed_at - a.created_at) * a.vcpu) AS vcpu_seconds,
       sum(extract(epoch FROM a.completed_at - a.created_at) * a.memory_gb) AS gb_seconds
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
WHERE a.completed_at IS NOT NULL
GROUP BY 1, 2 ORDER BY 1, 2
"""
_ROLLUP = """
SELECT user_id, type, sum(attempts), sum(run_seconds), sum(vcpu_seconds), sum(gb_seconds)
FROM usage_hours GROUP BY 1, 2 ORDER BY 1, 2
"""


def _rows(engine: Engine, statement: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(statement))]


def test_every_ended_attempt_is_rolled_up_once_and_exactly(engine: Engine) -> None:
    queue = make_queue(engine, lease_seconds=30, max_attempts=3)
    worker = claimant(make_user(engine, "worker@example.org", "WORKER"))
    owner = make_user(engine)
    bulk_jobs(engine, owner, 6)
    claimed = queue.claim_many(["TEST"], worker, 6)
    assert len(claimed) == 6
    done, failed, released, cancelled, expired, running = claimed
    queue.heartbeat(done.assignment.id, worker, 0.5)  # ends nothing: adds nothing
    queue.complete(done.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    queue.complete(failed.assignment.id, worker, status=JobStatus.FAILED, error="no")
    queue.release(released.assignment.id, worker)
    queue.cancel_job(cancelled.job.id)
    # Two leases run out; one is taken over by a claim (its attempt ends EXPIRED there).
    expire_leases(engine)
    with engine.begin() as conn:  # the other is held again
        conn.execute(
            text("UPDATE jobs SET lease_expires_at = now() + interval '1 hour' WHERE id = :id"),
            {"id": running.job.id},
        )
    [again] = queue.claim_many(["TEST"], worker, 1)
    assert again.job.id == expired.job.id and again.assignment.attempt == 2

    ended = _rows(engine, _ATTEMPTS)
    assert _rows(engine, _ROLLUP) == ended
    [(_, _, attempts, run, vcpu, gb)] = ended
    assert attempts == 5  # done, failed, released, cancelled, expired; running runs on
    assert vcpu == run and gb == 2 * run  # TEST: 1 vCPU, 2 GB


def test_concurrent_ends_of_one_user_lose_nothing(engine: Engine) -> None:
    """Eight connections end one user's attempts at once: the stripes keep them from
    waiting on one row, and the sums stay exact."""
    queue = make_queue(engine)
    worker = claimant(make_user(engine, "worker@example.org", "WORKER"))
    owner = make_user(engine)
    bulk_jobs(engine, owner, 160)
    claimed = queue.claim_many(["TEST"], worker, 160)
    assert len(claimed) == 160
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def end(share: list[Any]) -> None:
        try:
            start.wait(10)
            for one in share:
                queue.complete(
                    one.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=end, args=(claimed[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _rows(engine, _ROLLUP) == _rows(engine, _ATTEMPTS)
    [(_, _, attempts, *_)] = _rows(engine, _ROLLUP)
    assert attempts == 160


def test_an_attempt_is_charged_its_types_size_at_its_capacitys_price(engine: Engine) -> None:
    queue = make_queue(engine, vcpu=4, memory_gb=16)
    worker_id = make_user(engine, "worker@example.org", "WORKER")
    spot = dataclasses.replace(claimant(worker_id), reported_capacity=Capacity.SPOT)
    local = Claimant("local:laptop:1", "local", worker_id)
    bulk_jobs(engine, make_user(engine), 2)
    [on_spot] = queue.claim_many(["TEST"], spot, 1)
    [at_home] = queue.claim_many(["TEST"], local, 1)
    assert (on_spot.assignment.vcpu, on_spot.assignment.memory_gb) == (4, 16)
    assert (on_spot.assignment.capacity, at_home.assignment.capacity) == (
        Capacity.SPOT,
        Capacity.LOCAL,
    )
    for one, who in ((on_spot, spot), (at_home, local)):
        queue.complete(one.assignment.id, who, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.capacity, extract(epoch FROM a.completed_at - a.created_at) AS run,"
                " p.vcpu_hour, p.gb_hour FROM job_assignments a"
                " JOIN prices p ON p.region = 'us-east-1' AND p.capacity = a.capacity"
            )
        ).all()
        report = usage.report(conn, "type", datetime(2000, 1, 1, tzinfo=UTC), _later())
    expected = sum((r.run * (4 * r.vcpu_hour + 16 * r.gb_hour) / 3600 for r in rows), Decimal(0))
    prices = {r.capacity: (r.vcpu_hour, r.gb_hour) for r in rows}
    assert prices["spot"] == (Decimal("0.01214400"), Decimal("0.00133350"))  # 30 %
    assert prices["local"] == (Decimal("0.04048000"), Decimal("0.00444500"))  # on-demand
    [row] = report.rows
    assert (row.key, row.usage.attempts) == ("TEST", 2)
    # Exact but for the last places of PostgreSQL's division (the wire has 6).
    assert row.usage.cost.quantize(Decimal("1e-18")) == expected.quantize(Decimal("1e-18"))
    assert report.total == row.usage


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def test_a_users_spending_counts_ended_and_running_attempts(engine: Engine) -> None:
    queue = make_queue(engine)
    worker = claimant(make_user(engine, "worker@example.org", "WORKER"))
    owner, other = make_user(engine), make_user(engine, "other@example.org")
    bulk_jobs(engine, owner, 2)
    claimed = queue.claim_many(["TEST"], worker, 2)
    queue.complete(claimed[0].assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.connect() as conn:
        ended = conn.execute(text("SELECT sum(vcpu_seconds) FROM usage_hours")).scalar_one()
        month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        spent = usage.spent(conn, owner, month)
        nothing = usage.spent(conn, other, month)
        running = conn.execute(
            text(
                "SELECT extract(epoch FROM now() - created_at) FROM job_assignments"
                " WHERE completed_at IS NULL"
            )
        ).scalar_one()
    # The running attempt's run so far, read in the same transaction (one now()).
    assert spent.vcpu_seconds == ended + running
    assert spent.cost > 0
    assert nothing == usage.Spent(Decimal(0), Decimal(0))


def test_compaction_folds_past_days_into_a_row_a_day_and_keeps_the_sums(engine: Engine) -> None:
    owner = make_user(engine)
    fill = """
    INSERT INTO usage_hours (hour, user_id, type, batch_id, capacity, stripe, attempts,
                             run_seconds, vcpu_seconds, gb_seconds)
    SELECT date_trunc('day', now(), 'UTC') + d * interval '1 day' + h * interval '1 hour',
           :owner, 'TEST', 0, 'on_demand', s, 1, h + s + 0.25, h + s, 2 * (h + s)
    FROM generate_series(-2, 0) d, generate_series(0, 3) h, generate_series(0, 2) s
    """
    sums = "sum(attempts), sum(run_seconds), sum(vcpu_seconds), sum(gb_seconds)"
    past = "< date_trunc('day', now(), 'UTC')"
    per_day = (
        "SELECT date_trunc('day', hour, 'UTC') = date_trunc('day', now(), 'UTC'), stripe,"
        " count(*) FROM usage_hours GROUP BY 1, 2 ORDER BY 1, 2"
    )
    with engine.begin() as conn:
        conn.execute(text(fill), {"owner": owner})
    before = _rows(engine, f"SELECT {sums} FROM usage_hours")
    folded = _rows(engine, f"SELECT {sums} FROM usage_hours WHERE hour {past}")
    with engine.begin() as conn:
        usage.compact(conn)
    assert _rows(engine, f"SELECT {sums} FROM usage_hours") == before
    # The past two days, a row each (stripe -1); today's hours and stripes stay.
    assert _rows(engine, per_day) == [(False, -1, 2), (True, 0, 4), (True, 1, 4), (True, 2, 4)]
    assert _rows(engine, f"SELECT {sums} FROM usage_months") == folded
    assert _rows(engine, f"SELECT {sums} FROM usage_user_days WHERE day {past}") == folded
    with engine.begin() as conn:
        usage.compact(conn)
    assert _rows(engine, f"SELECT {sums} FROM usage_months") == folded


def test_reports_count_folded_and_unfolded_rows_once_whatever_the_period(engine: Engine) -> None:
    """Three months of hours, folded up to yesterday: every period, by every key, adds up
    to exactly the rows in it, whole months (usage_months), edges and today alike."""
    owner = make_user(engine)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO usage_hours (hour, user_id, type, batch_id, capacity, stripe,"
                " attempts, run_seconds, vcpu_seconds, gb_seconds)"
                " SELECT :today - h * interval '1 hour', :owner, 'TEST', h % 3, 'on_demand',"
                " (h + 8) % 8, 1, 1, 1, 2 FROM generate_series(-5, 24 * 95) h"
            ),
            {"today": today, "owner": owner},
        )
    with engine.begin() as conn:
        usage.compact(conn)
    periods = [
        (today - timedelta(days=95), today + timedelta(days=1)),
        (today - timedelta(days=40, hours=5), today - timedelta(days=3)),
        (today.replace(day=1) - timedelta(days=31), today.replace(day=1)),
        (today - timedelta(hours=3), today + timedelta(hours=6)),
    ]
    with engine.connect() as conn:
        for since, until in periods:
            expected = conn.execute(
                text(
                    "SELECT count(*) FROM generate_series(-5, 24 * 95) h"
                    " WHERE (CASE WHEN :today - h * interval '1 hour' < :today"
                    " THEN date_trunc('day', :today - h * interval '1 hour', 'UTC')"
                    " ELSE :today - h * interval '1 hour' END)"
                    " >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC')"
                    " AND (CASE WHEN :today - h * interval '1 hour' < :today"
                    " THEN date_trunc('day', :today - h * interval '1 hour', 'UTC')"
                    " ELSE :today - h * interval '1 hour' END) < :until"
                ),
                {"today": today, "since": since, "until": until},
            ).scalar_one()
            for by in usage.BY:
                for user in (None, owner):
                    found = usage.report(conn, by, since, until, user)
                    assert found.total.attempts == expected, (by, since, until, user)


def test_a_batchs_usage_is_its_ended_attempts_and_its_running_ones(engine: Engine) -> None:
    queue = make_queue(engine)
    worker = claimant(make_user(engine, "worker@example.org", "WORKER"))
    owner = make_user(engine)
    bulk_jobs(engine, owner, 3)
    requests = (
        "INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id)"
        " SELECT user_id, type, '{}', false, id, CAST(:batch AS bigint) FROM jobs WHERE id = :job"
    )
    with engine.begin() as conn:
        batch = conn.execute(
            text(
                "INSERT INTO job_batches (user_id, type, size) VALUES (:u, 'TEST', 2) RETURNING id"
            ),
            {"u": owner},
        ).scalar_one()
        first, second, alone = conn.execute(text("SELECT id FROM jobs ORDER BY id")).scalars()
        for job, of in ((first, batch), (second, batch), (alone, None)):
            conn.execute(text(requests), {"batch": of, "job": job})
    claimed = {c.job.id: c for c in queue.claim_many(["TEST"], worker, 3)}
    for job in (first, alone):  # second runs on
        done = claimed[job].assignment.id
        queue.complete(done, worker, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.connect() as conn:
        used = usage.batch_usage(conn, batch)
        run = conn.execute(
            text(
                "SELECT sum(extract(epoch FROM coalesce(completed_at, now()) - created_at))"
                " FROM job_assignments WHERE job_id IN (:first, :second)"
            ),
            {"first": first, "second": second},
        ).scalar_one()
    assert (used.attempts, used.run_seconds) == (2, run)
