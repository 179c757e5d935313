"""The queue layer's state machine on a real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from shared.enums import AssignmentOutcome, JobStatus
from shared.errors import Forbidden, IllegalState, InvalidInput, NotFound
from tests.support.queue import claimant, expire_leases, make_queue, make_user


@pytest.fixture
def queue(engine: Engine):
    return make_queue(engine, max_attempts=2)


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def test_create_claim_heartbeat_complete(queue, user: int) -> None:
    created = queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    assert not created.cached and created.job.status is JobStatus.PENDING
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None and claimed.job.id == created.job.id
    assert claimed.job.status is JobStatus.IN_PROGRESS and claimed.assignment.attempt == 1
    assert claimed.assignment.storage_uri.endswith(f"/test/{created.job.id}/attempt-1")
    beat = queue.heartbeat(claimed.assignment.id, worker, progress=0.5, message="half")
    assert not beat.cancelled and beat.expires_at >= claimed.assignment.expires_at
    done = queue.complete(
        claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
    )
    assert done.status is JobStatus.SUCCEEDED and done.progress == 1
    assert queue.claim(["TEST"], worker) is None


def test_cache_ignores_key_order_and_records_every_request(queue, user: int, engine) -> None:
    first = queue.create(user_id=user, job_type="TEST", payload={"id": 7, "fail": False})
    second = queue.create(user_id=user, job_type="TEST", payload={"fail": False, "id": 7})
    other = queue.create(user_id=user, job_type="TEST", payload={"id": 8})
    assert second.cached and second.job.id == first.job.id
    assert not other.cached and other.job.id != first.job.id
    with engine.connect() as conn:
        hits = conn.execute(text("SELECT cache_hit FROM job_requests ORDER BY id")).scalars()
        assert list(hits) == [False, True, False]


def test_cache_reuses_succeeded_until_invalidated(queue, user: int) -> None:
    first = queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    assert queue.create(user_id=user, job_type="TEST", payload={"id": 1}).cached
    assert queue.invalidate_cache("TEST") == 1
    again = queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    assert not again.cached and again.job.id != first.job.id


def test_failed_job_is_not_a_cache_hit(queue, user: int) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    queue.complete(claimed.assignment.id, worker, status=JobStatus.FAILED, error="boom")
    assert not queue.create(user_id=user, job_type="TEST", payload={"id": 1}).cached


def test_bad_input_is_refused(queue, user: int) -> None:
    with pytest.raises(InvalidInput):
        queue.create(user_id=user, job_type="NOPE", payload={"id": 1})
    with pytest.raises(InvalidInput) as error:
        queue.create(user_id=user, job_type="TEST", payload={"id": 1, "extra": True})
    assert "inputPayload.extra" in error.value.errors


def test_expired_lease_is_taken_over_and_first_result_refused(queue, user: int, engine) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    first, second = claimant(user, "a"), claimant(user, "b")
    one = queue.claim(["TEST"], first)
    expire_leases(engine)
    two = queue.claim(["TEST"], second)
    assert two is not None and two.job.id == job.id and two.assignment.attempt == 2
    with pytest.raises(IllegalState, match="expired"):
        queue.complete(one.assignment.id, first, status=JobStatus.SUCCEEDED, result_payload={})
    with pytest.raises(IllegalState):
        queue.heartbeat(one.assignment.id, first)
    done = queue.complete(two.assignment.id, second, status=JobStatus.SUCCEEDED, result_payload={})
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 2


def test_attempts_beyond_max_end_timed_out(queue, user: int, engine) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    for _ in range(2):
        assert queue.claim(["TEST"], worker) is not None
        expire_leases(engine)
    assert queue.claim(["TEST"], worker) is None  # no attempts left to take over
    assert queue.expire().totals() == (0, 1)
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job.id})
        assert status.scalar_one() == "TIMED_OUT"
        live = conn.execute(text("SELECT count(*) FROM job_assignments WHERE completed_at IS NULL"))
        assert live.scalar_one() == 0


def test_expire_requeues_while_attempts_remain(queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    queue.claim(["TEST"], claimant(user))
    expire_leases(engine)
    assert queue.expire().requeued == {"TEST": 1}
    assert [job.status for job in queue.poll("TEST")] == [JobStatus.PENDING]


def test_result_on_cancelled_assignment_is_refused_and_changes_nothing(
    queue, user: int, engine
) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    cancelled = queue.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert queue.heartbeat(claimed.assignment.id, worker).cancelled
    with pytest.raises(IllegalState, match="cancelled"):
        queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job_results")).scalar_one() == 0
        row = conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job.id})
        assert row.scalar_one() == "CANCELLED"
    with pytest.raises(IllegalState):
        queue.cancel(job.id)


def test_second_result_is_refused(queue, user: int) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    with pytest.raises(IllegalState, match="already completed"):
        queue.complete(claimed.assignment.id, worker, status=JobStatus.FAILED, error="late")


def test_only_the_holder_may_report(queue, user: int, engine) -> None:
    other = make_user(engine, "other@example.org", "WORKER")
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    claimed = queue.claim(["TEST"], claimant(user))
    with pytest.raises(Forbidden):
        queue.heartbeat(claimed.assignment.id, claimant(other))
    with pytest.raises(Forbidden):
        queue.complete(claimed.assignment.id, claimant(other), status=JobStatus.FAILED)
    with pytest.raises(NotFound):
        queue.heartbeat(claimed.assignment.id + 1000, claimant(user))


def test_result_schema_is_enforced(queue, user: int) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    with pytest.raises(InvalidInput):
        queue.complete(
            claimed.assignment.id,
            worker,
            status=JobStatus.SUCCEEDED,
            result_payload={"unexpected": 1},
        )
    # refused without a change: the assignment is still live and can succeed
    done = queue.complete(
        claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
    )
    assert done.status is JobStatus.SUCCEEDED


def test_assign_is_exclusive_and_reports_missing_jobs(queue, user: int) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    assert queue.assign(job.id, claimant(user)).assignment.job_id == job.id
    with pytest.raises(IllegalState, match="not PENDING"):
        queue.assign(job.id, claimant(user, "b"))
    with pytest.raises(NotFound):
        queue.assign(job.id + 99, claimant(user))


def test_release_requeues_without_charging_an_attempt(queue, user: int) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    for _ in range(3):  # more releases than max_attempts (2)
        claimed = queue.claim(["TEST"], worker)
        assert claimed is not None
        assert queue.release(claimed.assignment.id, worker).status is JobStatus.PENDING
    assert [j.id for j in queue.poll()] == [job.id]


def test_release_with_an_error_charges_the_attempt_and_the_last_ends_failed(
    queue, user: int, engine
) -> None:
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    worker = claimant(user)
    first = queue.claim(["TEST"], worker)
    again = queue.release(first.assignment.id, worker, error="results not stored: disk full")
    assert (again.status, again.attempts, again.finished_at) == (JobStatus.PENDING, 1, None)
    second = queue.claim(["TEST"], worker)
    assert second is not None and second.assignment.attempt == 2
    done = queue.release(second.assignment.id, worker, error="results not stored: still full")
    assert done.status is JobStatus.FAILED and done.finished_at is not None
    assert done.error_message == "results not stored: still full"
    assert queue.claim(["TEST"], worker) is None
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT attempt, outcome FROM job_assignments ORDER BY attempt"))
        assert [tuple(r) for r in rows] == [(1, "FAILED"), (2, "FAILED")]
    with pytest.raises(IllegalState, match="already completed"):
        queue.release(second.assignment.id, worker, error="again")
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job.id})
        assert status.scalar_one() == "FAILED"


def test_demand_counts_pending_and_in_progress(queue, user: int) -> None:
    for i in range(3):
        queue.create(user_id=user, job_type="TEST", payload={"id": i})
    queue.claim(["TEST"], claimant(user))
    demand = queue.demand()
    assert (demand["TEST"].pending, demand["TEST"].in_progress) == (2, 1)
    assert (demand["POLYGON_STATS"].pending, demand["POLYGON_STATS"].in_progress) == (0, 0)


def test_prune_removes_only_old_finished_jobs(queue, user: int, engine) -> None:
    old = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    queue.cancel(old.id)
    live = queue.create(user_id=user, job_type="TEST", payload={"id": 2}).job
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET finished_at = now() - interval '2 days' WHERE id = :id"),
            {"id": old.id},
        )
    assert queue.prune(retention_seconds=86400) == 1
    assert [j.id for j in queue.poll()] == [live.id]


def test_assignment_outcomes_are_recorded(queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    expire_leases(engine)
    queue.claim(["TEST"], worker)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT attempt, outcome FROM job_assignments ORDER BY attempt"))
        assert [tuple(r) for r in rows] == [(1, AssignmentOutcome.EXPIRED.value), (2, None)]
    assert claimed.assignment.attempt == 1


def test_underscore_keys_are_metadata_not_schema(queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    queue.complete(claimed.assignment.id, worker, status=JobStatus.SUCCEEDED,
                   result_payload={"_perf": {"time_taken_s": 1.5}})
    with engine.connect() as conn:
        row = conn.execute(text("SELECT result_payload, metadata FROM job_results")).one()
    assert row.result_payload == {}
    assert row.metadata == {"_perf": {"time_taken_s": 1.5}}
