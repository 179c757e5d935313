"""The webhook outbox on a real PostgreSQL: every way a job ends writes its deliveries in
the ending transaction, a batch's end is written once when its last job ends (also when
its last two end at once), and only matching subscriptions get a delivery."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from shared.enums import JobStatus
from tests.support.queue import claimant, expire_leases, make_queue, make_user
from webapi.store import webhooks
from webapi.store.queue import Queue
from webapi.store.queue_batches import Batches


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def subscribe(engine: Engine, user_id: int, **fields: Any) -> int:
    values = {
        "url": "https://hooks.example.org/",
        "secret": "s" * 16,
        "events": ["job.ended", "batch.ended"],
        "failures_only": False,
        "job_id": None,
        "batch_id": None,
        "workflow_id": None,
        "payload_format": "json",
        **fields,
    }
    with engine.begin() as conn:
        return webhooks.insert(conn, user_id, values).id


def _outbox(engine: Engine) -> list[tuple[int, str, int, str, str]]:
    """(webhook, kind, subject, status, sequence key) of every delivery, in id order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.webhook_id, e.kind, e.subject_id, e.status, d.sequence_key "
                "FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
                "ORDER BY d.id"
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _claimed(queue: Queue, user: int, job_input: int) -> tuple[int, int]:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": job_input}).job
    claimed = queue.claim(["TEST"], claimant(user))
    assert claimed is not None and claimed.job.id == job.id
    return job.id, claimed.assignment.id


def _complete(status: JobStatus) -> Callable[[Queue, Engine, int], tuple[int, str]]:
    def end(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
        job_id, assignment = _claimed(queue, user, 1)
        queue.complete(assignment, claimant(user), status=status, result_payload={}, error="x")
        return job_id, status.value

    return end


def _cancel(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
    job_id, _ = _claimed(queue, user, 1)
    queue.cancel(job_id)
    return job_id, "CANCELLED"


def _cancel_pending(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    queue.cancel(job.id)
    return job.id, "CANCELLED"


def _lease_expiry(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
    job_id, _ = _claimed(queue, user, 1)
    expire_leases(engine)
    assert queue.expire().totals() == (0, 1)
    return job_id, "TIMED_OUT"


def _lost_worker(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
    job_id, _ = _claimed(queue, user, 1)
    lost = queue.lose_worker(claimant(user).ecs_task_arn, "it stopped", platform=False)
    assert lost.timed_out == (job_id,)
    return job_id, "TIMED_OUT"


def _release_failed(queue: Queue, engine: Engine, user: int) -> tuple[int, str]:
    job_id, assignment = _claimed(queue, user, 1)
    queue.release(assignment, claimant(user), error="results could not be stored")
    return job_id, "FAILED"


@pytest.mark.parametrize(
    "end",
    [
        _complete(JobStatus.SUCCEEDED),
        _complete(JobStatus.FAILED),
        _cancel,
        _cancel_pending,
        _lease_expiry,
        _lost_worker,
        _release_failed,
    ],
    ids=lambda end: getattr(end, "__name__", "complete"),
)
def test_every_way_a_job_ends_writes_its_delivery(
    engine: Engine, user: int, end: Callable[[Queue, Engine, int], tuple[int, str]]
) -> None:
    queue = make_queue(engine, max_attempts=1)
    hook = subscribe(engine, user)
    job_id, status = end(queue, engine, user)
    assert _outbox(engine) == [(hook, "job.ended", job_id, status, f"job:{job_id}")]


def test_only_matching_subscriptions_get_one(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1)
    other = make_user(engine, "other@example.org")
    every = subscribe(engine, user)
    failures = subscribe(engine, user, failures_only=True)
    batches_only = subscribe(engine, user, events=["batch.ended"])
    subscribe(engine, other)  # another user's jobs only
    done = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job.id
    failed = queue.create(user_id=user, job_type="TEST", payload={"id": 2}).job.id
    one_job = subscribe(engine, other, job_id=failed, events=["job.ended"])
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        claimed = queue.claim(["TEST"], claimant(user))
        assert claimed is not None
        queue.complete(
            claimed.assignment.id, claimant(user), status=status, result_payload={}, error="no"
        )
    assert _outbox(engine) == [
        (every, "job.ended", done, "SUCCEEDED", f"job:{done}"),
        (every, "job.ended", failed, "FAILED", f"job:{failed}"),
        (failures, "job.ended", failed, "FAILED", f"job:{failed}"),
        (one_job, "job.ended", failed, "FAILED", f"job:{failed}"),
    ]
    assert batches_only not in {row[0] for row in _outbox(engine)}


def _batch(engine: Engine, user: int, size: int) -> tuple[int, list[int]]:
    created = Batches(engine, make_queue(engine).registry).create(
        user_id=user, job_type="TEST", inputs=[{"id": i} for i in range(size)]
    )
    return created.batch.id, list(created.job_ids)


def test_a_batch_cancel_writes_each_job_and_the_batch_once(engine: Engine, user: int) -> None:
    hook = subscribe(engine, user)
    batch_id, job_ids = _batch(engine, user, 50)
    Batches(engine, make_queue(engine).registry).cancel(batch_id, creator=user)
    outbox = _outbox(engine)
    assert outbox[:-1] == [(hook, "job.ended", j, "CANCELLED", f"job:{j}") for j in job_ids]
    assert outbox[-1] == (hook, "batch.ended", batch_id, "CANCELLED", f"batch:{batch_id}")
    with engine.connect() as conn:
        data = conn.execute(
            text("SELECT data FROM webhook_events WHERE kind = 'batch.ended'")
        ).scalar_one()
    assert data["batch"]["counts"] == {"CANCELLED": 50} and data["batch"]["size"] == 50


def test_a_batch_ends_when_its_last_job_does(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1)
    hook = subscribe(engine, user, events=["batch.ended"], batch_id=None)
    batch_id, _ = _batch(engine, user, 3)
    statuses = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUCCEEDED]
    for status in statuses:
        claimed = queue.claim(["TEST"], claimant(user))
        assert claimed is not None
        assert _outbox(engine) == []
        queue.complete(
            claimed.assignment.id, claimant(user), status=status, result_payload={}, error="e"
        )
    assert _outbox(engine) == [(hook, "batch.ended", batch_id, "FAILED", f"batch:{batch_id}")]


def end_two_at_once(engine: Engine, job_ids: list[int], trigger: str) -> None:
    """Cancel the two jobs in two transactions, each running the deferred ``trigger``
    before either commits: the second's check waits on the first's lock, then both
    commit. The second job moves to another user first (as a cache hit on their job):
    the two updates then share no row of job_loads, so neither waits for the other."""
    other = make_user(engine, "other@example.org")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET user_id = :u WHERE id = :id"), {"u": other, "id": job_ids[1]}
        )
    end = text("UPDATE jobs SET status = 'CANCELLED', finished_at = now() WHERE id = :id")
    check_now = text(f"SET CONSTRAINTS {trigger} IMMEDIATE")
    with engine.connect() as first, engine.connect() as second:
        first.execute(end, {"id": job_ids[0]})
        second.execute(end, {"id": job_ids[1]})
        first.execute(check_now)  # finds the second job live: no end yet
        second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        checked = threading.Thread(target=second.execute, args=(check_now,))
        checked.start()
        with engine.connect() as watcher:
            while (
                checked.is_alive()
                and not watcher.execute(
                    text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": second_pid},
                ).scalar_one()
            ):
                watcher.rollback()  # a fresh snapshot of pg_stat_activity next time
                checked.join(0.01)
        first.commit()
        checked.join(timeout=30)
        second.commit()


def test_the_last_two_jobs_of_a_batch_ending_at_once_write_one_batch_end(
    engine: Engine, user: int
) -> None:
    """Two transactions end the batch's two jobs, and each checks for the batch's end
    before either commits: the second to check waits for the first's lock on the batch
    row, so it sees the first's end: exactly one writes the batch's end (never none)."""
    hook = subscribe(engine, user, events=["batch.ended"])
    batch_id, job_ids = _batch(engine, user, 2)
    end_two_at_once(engine, job_ids, "jobs_webhook_batch_ended")
    assert _outbox(engine) == [(hook, "batch.ended", batch_id, "CANCELLED", f"batch:{batch_id}")]
