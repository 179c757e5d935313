"""The fleet page's last hour, minute by minute, from the jobs' own timestamps and the
manager's fleet reports (real PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from shared.enums import JobStatus
from tests.support import database
from tests.support.queue import bulk_jobs, claimant, make_queue, make_user
from webapi.store.engine import make_engine
from webapi.store.queue_history import activity, record_fleet_size
from webapi.store.sql import queue_history as sql


def _shift(engine: Engine, **minutes_ago: float) -> None:
    """Move every job's timestamps into the past (``created=30``: 30 minutes ago)."""
    sets = ", ".join(
        f"{column}_at = date_trunc('minute', now()) - make_interval(secs => :{column})"
        for column in minutes_ago
    )
    params = {column: ago * 60 for column, ago in minutes_ago.items()}
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE jobs SET {sets}"), params)


def test_a_minute_shows_its_highest_pending_and_running(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine)
    for n in range(3):
        queue.create(user_id=user, job_type="TEST", payload={"id": n})
    first = activity(engine).types["TEST"]
    assert (first.pending[-1], first.running[-1], first.finished[-1]) == (3, 0, 0)
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    now = activity(engine)
    assert len(now.minutes) == 60 and now.minutes == sorted(now.minutes)
    test = now.types["TEST"]
    # In this minute three were pending at once, one ran and one finished.
    assert (test.pending[-1], test.running[-1], test.finished[-1]) == (3, 1, 1)
    assert sum(test.pending[:-1]) == sum(test.running[:-1]) == sum(test.finished[:-1]) == 0


def test_a_sweep_pending_for_one_minute_twenty_minutes_ago(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine)
    for n in range(5):
        queue.create(user_id=user, job_type="TEST", payload={"id": n})
    # Created 21.5 minutes ago, started 20.5 and finished 20.25 minutes ago: a sampler
    # every 5 minutes saw none of it.
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'SUCCEEDED', progress = 1"))
    _shift(engine, created=21.5, started=20.5, finished=20.25)
    test = activity(engine).types["TEST"]
    at = {ago: 59 - ago for ago in (22, 21, 20)}  # the minute that began `ago` minutes ago
    assert test.pending[at[22]] == 5  # created inside it
    assert test.pending[at[21]] == 5  # still pending when it began
    assert test.pending[at[20]] == 0  # started half a minute before it began
    assert (test.running[at[22]], test.running[at[21]], test.running[at[20]]) == (0, 5, 0)
    assert (test.finished[at[21]], test.finished[at[20]]) == (5, 0)
    assert sum(test.pending) == 10 and sum(test.finished) == 5


def test_jobs_still_pending_from_before_the_window_count_throughout(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine)
    for n in range(2):
        queue.create(user_id=user, job_type="TEST", payload={"id": n})
    _shift(engine, created=90)
    history = activity(engine).types["TEST"]
    assert history.pending == [2] * 60
    assert history.running == history.finished == [0] * 60


def test_the_fleet_size_keeps_each_minutes_largest_report(engine: Engine) -> None:
    assert activity(engine).workers == [None] * 60
    for workers in (2, 5, 1):
        record_fleet_size(engine, workers)
    assert activity(engine).workers[-1] == 5
    with engine.begin() as conn:
        conn.execute(text("UPDATE fleet_minutes SET minute = minute - interval '2 days'"))
    record_fleet_size(engine, 3)
    with engine.connect() as conn:  # the two-day-old row went with the next report
        rows = conn.execute(text("SELECT workers FROM fleet_minutes")).scalars().all()
    assert rows == [3]


@pytest.fixture(scope="module")
def big_history(pg_server: URL) -> Iterator[Engine]:
    """A million jobs finished yesterday, a sweep of 10,000 in the last hour."""
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            user = make_user(engine)
            bulk_jobs(engine, user, 1_000_000, status="SUCCEEDED")
            with engine.begin() as conn:
                conn.execute(text("UPDATE jobs SET finished_at = now() - interval '1 day'"))
            bulk_jobs(engine, user, 10_000, job_type="POLYGON_STATS")
            with engine.begin() as conn:
                conn.execute(text("ANALYZE jobs"))
            yield engine
        finally:
            engine.dispose()


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = []
    if plan.get("Relation Name") == "jobs":
        found.append((plan["Node Type"], plan.get("Index Name")))
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


def test_the_history_reads_indexes_only_at_a_million_jobs(big_history: Engine) -> None:
    with big_history.connect() as conn:
        explained = conn.execute(
            text(f"EXPLAIN (FORMAT JSON) {sql.ACTIVITY}"), {"minutes": 60}
        ).scalar_one()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    scans = _scans(plan)
    assert len(scans) == 3, scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
    history = activity(big_history)
    assert history.types["POLYGON_STATS"].pending[-1] == 10_000
    assert "TEST" not in history.types  # finished a day ago: outside the window
    times = []
    for _ in range(5):
        started = time.perf_counter()
        activity(big_history)
        times.append(time.perf_counter() - started)
    print(
        f"\nactivity() at 1,000,000 + 10,000 jobs, 5 runs: {sorted(times)[2] * 1000:.0f} ms median"
    )
