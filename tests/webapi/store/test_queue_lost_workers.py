"""Workers the manager declared lost, on a real PostgreSQL: their attempts end at once,
an attempt lost to the platform is not counted (up to the type's bound), and expiry
judges attempts handed to a worker that was already gone the same way."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from shared.enums import AssignmentOutcome, JobStatus
from shared.errors import IllegalState
from tests.support.queue import claimant, expire_leases, make_queue, make_user
from webapi.store.queue import Queue
from webapi.store.records import Claimant


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def _attempts(engine: Engine, job_id: int) -> list[tuple[int, str | None, str | None, bool]]:
    """(attempt, outcome, lost reason, counted) of each of the job's assignments."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT attempt, outcome::text, lost_reason, counted FROM job_assignments "
                "WHERE job_id = :id ORDER BY attempt"
            ),
            {"id": job_id},
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _claim(queue: Queue, worker: Claimant) -> tuple[int, int]:
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    return claimed.job.id, claimed.assignment.id


def _status(engine: Engine, job_id: int) -> tuple[str, int, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status::text, attempts, error_message FROM jobs WHERE id = :id"),
            {"id": job_id},
        ).one()
    return row[0], row[1], row[2]


def test_a_platform_loss_requeues_at_once_and_is_not_counted(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    lost, other = claimant(user, "lost"), claimant(user, "other")
    job_id, _ = _claim(queue, lost)
    done = queue.lose_worker(lost.ecs_task_arn, "killed by SIGKILL", platform=True)
    assert (done.requeued, done.timed_out, done.spared) == ((job_id,), (), 1)
    assert _status(engine, job_id) == ("PENDING", 1, None)
    # Its one counted attempt is still there to run.
    _, second = _claim(queue, other)
    finished = queue.complete(second, other, status=JobStatus.SUCCEEDED, result_payload={})
    assert finished.status is JobStatus.SUCCEEDED and finished.attempts == 2
    assert _attempts(engine, job_id) == [
        (1, "LOST", "killed by SIGKILL", False),
        (2, "SUCCEEDED", None, True),
    ]


def test_a_loss_the_job_caused_counts(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    job_id, _ = _claim(queue, worker)
    reason = "killed by SIGKILL: out of memory"
    done = queue.lose_worker(worker.ecs_task_arn, reason, platform=False)
    assert (done.requeued, done.timed_out, done.spared) == ((), (job_id,), 0)
    assert _status(engine, job_id) == (
        "TIMED_OUT",
        1,
        f"worker lost ({reason}) on the last of 1 attempts",
    )
    assert _attempts(engine, job_id) == [(1, "LOST", reason, True)]


def test_past_its_bound_a_job_that_keeps_losing_its_worker_ends(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1, max_platform_retries=2)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    spared = []
    for n in range(3):
        worker = claimant(user, f"w{n}")
        job_id, _ = _claim(queue, worker)
        spared.append(queue.lose_worker(worker.ecs_task_arn, "killed", platform=True).spared)
    assert spared == [1, 1, 0]
    assert _status(engine, job_id)[:2] == ("TIMED_OUT", 3)
    assert [counted for *_, counted in _attempts(engine, job_id)] == [False, False, True]


def test_only_the_lost_workers_attempts_end(engine: Engine, user: int) -> None:
    queue = make_queue(engine)
    for n in range(2):
        queue.create(user_id=user, job_type="TEST", payload={"id": n})
    lost, alive = claimant(user, "lost"), claimant(user, "alive")
    lost_job, lost_assignment = _claim(queue, lost)
    alive_job, alive_assignment = _claim(queue, alive)
    assert queue.lose_worker(lost.ecs_task_arn, "Spot", platform=True).requeued == (lost_job,)
    assert _status(engine, alive_job)[0] == "IN_PROGRESS"
    assert not queue.heartbeat(alive_assignment, alive).cancelled
    with pytest.raises(IllegalState, match="declared lost \\(Spot\\)"):
        queue.heartbeat(lost_assignment, lost)
    # Declaring it lost again changes nothing more.
    assert queue.lose_worker(lost.ecs_task_arn, "again", platform=True).requeued == ()
    assert _attempts(engine, lost_job) == [(1, "LOST", "Spot", False)]


def test_a_late_result_of_a_lost_worker_is_taken_while_nobody_took_over(
    engine: Engine, user: int
) -> None:
    queue = make_queue(engine)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    _, assignment = _claim(queue, worker)
    queue.lose_worker(worker.ecs_task_arn, "unresponsive", platform=False)
    done = queue.complete(assignment, worker, status=JobStatus.SUCCEEDED, result_payload={})
    assert done.status is JobStatus.SUCCEEDED
    assert queue.claim(["TEST"], worker) is None  # nothing left to run twice


def test_a_late_result_of_a_lost_worker_is_refused_once_taken_over(
    engine: Engine, user: int
) -> None:
    queue = make_queue(engine)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    lost, other = claimant(user, "lost"), claimant(user, "other")
    job_id, first = _claim(queue, lost)
    queue.lose_worker(lost.ecs_task_arn, "killed by SIGKILL", platform=True)
    _, second = _claim(queue, other)
    with pytest.raises(IllegalState, match="taken over"):
        queue.complete(first, lost, status=JobStatus.SUCCEEDED, result_payload={})
    queue.complete(second, other, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.connect() as conn:
        results = conn.execute(
            text("SELECT count(*) FROM job_results WHERE job_id = :id"), {"id": job_id}
        ).scalar_one()
    assert results == 1


def _handed_to_a_lost_worker(
    queue: Queue, engine: Engine, user: int, *, platform: bool
) -> tuple[int, Claimant]:
    """A job claimed by a worker already declared lost, its lease since expired; the
    job's id and another, live, worker."""
    ghost = claimant(user, "ghost")
    queue.lose_worker(ghost.ecs_task_arn, "killed", platform=platform)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    job_id, _ = _claim(queue, ghost)
    expire_leases(engine)
    return job_id, claimant(user, "other")


@pytest.mark.parametrize("platform", [True, False])
def test_an_attempt_handed_to_a_worker_already_lost_is_not_counted_when_it_expires(
    engine: Engine, user: int, platform: bool
) -> None:
    """A claim still in flight when its worker died takes a job after the manager
    declared the worker lost: that attempt never ran, whatever killed the worker."""
    queue = make_queue(engine, max_attempts=1)
    job_id, other = _handed_to_a_lost_worker(queue, engine, user, platform=platform)
    assert queue.expire().requeued == {"TEST": 1}
    assert _attempts(engine, job_id) == [(1, "LOST", "killed", False)]
    _, second = _claim(queue, other)
    finished = queue.complete(second, other, status=JobStatus.SUCCEEDED, result_payload={})
    assert finished.status is JobStatus.SUCCEEDED


def test_a_claim_leaves_a_lost_workers_expired_lease_to_the_sweep(
    engine: Engine, user: int
) -> None:
    queue = make_queue(engine, max_attempts=2)
    job_id, other = _handed_to_a_lost_worker(queue, engine, user, platform=True)
    assert queue.claim(["TEST"], other) is None  # a takeover would count the attempt
    queue.expire()
    _claim(queue, other)
    outcomes = [(outcome, counted) for _, outcome, _, counted in _attempts(engine, job_id)]
    assert outcomes == [("LOST", False), (None, True)]


def test_an_expired_lease_of_a_live_worker_still_counts(engine: Engine, user: int) -> None:
    queue = make_queue(engine, max_attempts=1)
    worker = claimant(user)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    job_id, _ = _claim(queue, worker)
    expire_leases(engine)
    assert queue.expire().timed_out == {"TEST": 1}
    assert _attempts(engine, job_id) == [(1, AssignmentOutcome.EXPIRED.value, None, True)]


def test_a_released_attempt_is_not_counted(engine: Engine, user: int) -> None:
    queue = make_queue(engine)
    worker = claimant(user)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    job_id, assignment = _claim(queue, worker)
    queue.release(assignment, worker)
    assert _attempts(engine, job_id) == [(1, "RELEASED", None, False)]
