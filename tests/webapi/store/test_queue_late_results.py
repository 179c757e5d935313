"""Late results, the ReefGuide assign lease and the run-time limit, on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from shared.enums import JobStatus, StorageScheme
from shared.errors import IllegalState
from shared.jobtypes import JobTypeRegistry, default_registry
from tests.support.queue import claimant, expire_leases, make_user
from webapi.store.queue import Queue, StorageTarget


def _queue(engine: Engine, **changes: int) -> Queue:
    registry = JobTypeRegistry(dataclasses.replace(s, **changes) for s in default_registry())
    return Queue(engine, registry, StorageTarget(StorageScheme.LOCAL, "file:///tmp/r"))


@pytest.fixture
def queue(engine: Engine) -> Queue:
    return _queue(engine, max_attempts=2)


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def _count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _pass_deadlines(engine: Engine) -> None:
    """Move every live attempt's run-time limit (and so its lease) into the past."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE job_assignments SET deadline_at = now() - interval '1 second', "
                "expires_at = now() - interval '1 second' WHERE completed_at IS NULL"
            )
        )
        conn.execute(
            text(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                "WHERE status = 'IN_PROGRESS'"
            )
        )


def test_late_result_with_no_takeover_is_accepted(queue: Queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    expire_leases(engine)
    done = queue.complete(
        claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
    )
    assert done.status is JobStatus.SUCCEEDED
    assert _count(engine, "SELECT count(*) FROM job_results") == 1
    assert queue.claim(["TEST"], worker) is None


def test_late_result_after_the_sweep_requeued_is_accepted(queue: Queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    expire_leases(engine)
    assert queue.expire().requeued == {"TEST": 1}
    done = queue.complete(
        claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
    )
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1
    assert queue.claim(["TEST"], worker) is None  # nothing left to run twice
    outcome = "SELECT outcome FROM job_assignments WHERE id = :id"
    with engine.connect() as conn:
        assert conn.execute(text(outcome), {"id": claimed.assignment.id}).scalar() == "SUCCEEDED"


def test_late_result_after_a_takeover_is_refused(queue: Queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    first, second = claimant(user, "a"), claimant(user, "b")
    one = queue.claim(["TEST"], first)
    expire_leases(engine)
    two = queue.claim(["TEST"], second)
    assert one is not None and two is not None
    with pytest.raises(IllegalState, match="taken over"):
        queue.complete(one.assignment.id, first, status=JobStatus.SUCCEEDED, result_payload={})
    assert _count(engine, "SELECT count(*) FROM job_results") == 0
    queue.complete(two.assignment.id, second, status=JobStatus.SUCCEEDED, result_payload={})
    assert _count(engine, "SELECT count(*) FROM job_results") == 1


def test_late_result_of_a_timed_out_job_is_refused(engine, user: int) -> None:
    queue = _queue(engine, max_attempts=1)
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    expire_leases(engine)
    assert queue.expire().timed_out == {"TEST": 1}
    with pytest.raises(IllegalState, match="TIMED_OUT"):
        queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    assert _count(engine, "SELECT count(*) FROM job_results") == 0
    status = "SELECT status FROM jobs WHERE id = :id"
    with engine.connect() as conn:
        assert conn.execute(text(status), {"id": job.id}).scalar() == "TIMED_OUT"


def test_assign_leases_for_assign_lease_seconds_and_claim_for_lease_seconds(
    engine, user: int
) -> None:
    queue = _queue(engine, lease_seconds=30, assign_lease_seconds=3000, timeout_seconds=4000)
    first = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    queue.create(user_id=user, job_type="TEST", payload={"id": 2})
    assigned = queue.assign(first.id, claimant(user, "reefguide"))
    claimed = queue.claim(["TEST"], claimant(user, "shoal"))
    assert claimed is not None
    assigned_lease = assigned.assignment.expires_at - assigned.assignment.created_at
    claimed_lease = claimed.assignment.expires_at - claimed.assignment.created_at
    assert assigned_lease == timedelta(seconds=3000)
    assert claimed_lease == timedelta(seconds=30)
    deadline = claimed.assignment.deadline_at
    assert deadline is not None and deadline - claimed.assignment.created_at == timedelta(
        seconds=4000
    )


def test_lease_never_reaches_past_the_run_time_limit(engine, user: int) -> None:
    queue = _queue(engine, lease_seconds=600, assign_lease_seconds=600, timeout_seconds=5)
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    claimed = queue.assign(job.id, worker)
    assert claimed.assignment.expires_at == claimed.assignment.deadline_at
    beat = queue.heartbeat(claimed.assignment.id, worker)
    assert beat.expires_at == claimed.assignment.deadline_at


def test_past_the_run_time_limit_the_attempt_is_over(engine, user: int) -> None:
    queue = _queue(engine, max_attempts=2, timeout_seconds=60)
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    first = queue.claim(["TEST"], worker)
    assert first is not None
    _pass_deadlines(engine)
    with pytest.raises(IllegalState, match="run-time limit"):
        queue.heartbeat(first.assignment.id, worker)
    with pytest.raises(IllegalState, match="run-time limit"):
        queue.complete(first.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    assert queue.expire().requeued == {"TEST": 1}  # retried while attempts remain
    second = queue.claim(["TEST"], worker)
    assert second is not None and second.assignment.attempt == 2
    _pass_deadlines(engine)
    assert queue.expire().timed_out == {"TEST": 1}
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, error_message FROM jobs WHERE id = :id"), {"id": job.id}
        ).one()
    assert row.status == "TIMED_OUT"
    assert row.error_message == "ran past its run-time limit of 60 s on the last of 2 attempts"
