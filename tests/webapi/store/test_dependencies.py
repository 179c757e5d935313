"""Jobs that wait for jobs and batches: WAITING, released or cancelled when a parent
ends, in the transaction that ends it; on a real PostgreSQL, concurrently."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from shared.enums import DependencyCondition, JobStatus
from shared.errors import NotFound
from tests.support.queue import claimant, load_drift, make_queue, make_user
from webapi.store.dependencies import Dependency, depend
from webapi.store.queue import Queue
from webapi.store.queue_batches import Batches

OK, ANY, NOTOK = (
    DependencyCondition.AFTEROK,
    DependencyCondition.AFTERANY,
    DependencyCondition.AFTERNOTOK,
)


@pytest.fixture
def queue(engine: Engine) -> Queue:
    return make_queue(engine, max_attempts=1)


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def _job(queue: Queue, user: int, n: int, *dependencies: Dependency) -> int:
    created = queue.create(
        user_id=user, job_type="TEST", payload={"id": n}, dependencies=dependencies
    )
    return created.job.id


def _end(queue: Queue, user: int, job_id: int, status: JobStatus) -> None:
    worker = claimant(user, f"w{job_id}")
    claimed = queue.assign(job_id, worker)
    queue.complete(claimed.assignment.id, worker, status=status, result_payload={})


def _state(engine: Engine, job_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, error_message FROM jobs WHERE id = :id"), {"id": job_id}
        ).one()
    return row.status, row.error_message


def test_a_waiting_job_is_released_when_its_parent_succeeds(queue, user, engine) -> None:
    parent = _job(queue, user, 1)
    child = _job(queue, user, 2, Dependency(OK, job_id=parent))
    assert _state(engine, child) == ("WAITING", None)
    assert queue.demand()["TEST"].pending == 1  # the parent only
    worker = claimant(user)
    claimed = queue.claim_many(["TEST"], worker, 10)
    assert [c.job.id for c in claimed] == [parent]  # the waiting job is not claimable
    queue.complete(claimed[0].assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    assert _state(engine, child) == ("PENDING", None)
    assert queue.demand()["TEST"].pending == 1
    assert load_drift(engine) == []


@pytest.mark.parametrize(
    ("condition", "ended", "expected"),
    [
        (OK, JobStatus.FAILED, ("CANCELLED", "dependency job {p} ended FAILED (afterok)")),
        (ANY, JobStatus.FAILED, ("PENDING", None)),
        (NOTOK, JobStatus.FAILED, ("PENDING", None)),
        (
            NOTOK,
            JobStatus.SUCCEEDED,
            ("CANCELLED", "dependency job {p} ended SUCCEEDED (afternotok)"),
        ),
        (ANY, JobStatus.SUCCEEDED, ("PENDING", None)),
    ],
)
def test_each_condition_is_judged_when_the_parent_ends(
    queue, user, engine, condition, ended, expected
) -> None:
    parent = _job(queue, user, 1)
    child = _job(queue, user, 2, Dependency(condition, job_id=parent))
    _end(queue, user, parent, ended)
    status, reason = expected
    assert _state(engine, child) == (status, reason and reason.format(p=parent))
    assert load_drift(engine) == []


def test_a_job_whose_dependencies_are_decided_at_submit_never_waits(queue, user, engine) -> None:
    done, failed = _job(queue, user, 1), _job(queue, user, 2)
    _end(queue, user, done, JobStatus.SUCCEEDED)
    _end(queue, user, failed, JobStatus.FAILED)
    assert _state(engine, _job(queue, user, 3, Dependency(OK, job_id=done))) == ("PENDING", None)
    dead = _job(queue, user, 4, Dependency(OK, job_id=done), Dependency(OK, job_id=failed))
    assert _state(engine, dead) == ("CANCELLED", f"dependency job {failed} ended FAILED (afterok)")


def test_a_job_waits_for_every_parent(queue, user, engine) -> None:
    first, second = _job(queue, user, 1), _job(queue, user, 2)
    child = _job(queue, user, 3, Dependency(OK, job_id=first), Dependency(ANY, job_id=second))
    _end(queue, user, first, JobStatus.SUCCEEDED)
    assert _state(engine, child) == ("WAITING", None)
    _end(queue, user, second, JobStatus.FAILED)
    assert _state(engine, child) == ("PENDING", None)


def test_a_batch_dependency_counts_the_batch_s_jobs(queue, user, engine) -> None:
    batches = Batches(engine, queue.registry)
    batch = batches.create(user_id=user, job_type="TEST", inputs=[{"id": i} for i in range(3)])
    ok = _job(queue, user, 10, Dependency(OK, batch_id=batch.batch.id))
    anyway = _job(queue, user, 11, Dependency(ANY, batch_id=batch.batch.id))
    first, second, third = batch.job_ids
    _end(queue, user, first, JobStatus.SUCCEEDED)
    assert _state(engine, ok) == _state(engine, anyway) == ("WAITING", None)
    _end(queue, user, second, JobStatus.FAILED)
    assert _state(engine, ok) == (
        "CANCELLED",
        f"dependency batch {batch.batch.id}: 1 of its 3 jobs did not succeed (afterok)",
    )
    assert _state(engine, anyway) == ("WAITING", None)
    _end(queue, user, third, JobStatus.SUCCEEDED)
    assert _state(engine, anyway) == ("PENDING", None)


def test_a_batch_that_all_succeeds_releases_its_afterok_dependent(queue, user, engine) -> None:
    batch = Batches(engine, queue.registry).create(
        user_id=user, job_type="TEST", inputs=[{"id": i} for i in range(2)]
    )
    _end(queue, user, batch.job_ids[0], JobStatus.SUCCEEDED)  # ended before it is depended on
    child = _job(queue, user, 10, Dependency(OK, batch_id=batch.batch.id))
    assert _state(engine, child) == ("WAITING", None)
    _end(queue, user, batch.job_ids[1], JobStatus.SUCCEEDED)
    assert _state(engine, child) == ("PENDING", None)
    assert load_drift(engine) == []


def test_a_whole_waiting_batch_released_at_once_is_counted_exactly(queue, user, engine) -> None:
    parent = _job(queue, user, 1)
    waiting = Batches(engine, queue.registry).create(
        user_id=user,
        job_type="TEST",
        inputs=[{"id": 10 + i} for i in range(50)],
        dependencies=[Dependency(OK, job_id=parent)],
    )
    assert _statuses(engine, waiting.job_ids) == {"WAITING": 50}
    assert queue.demand()["TEST"].pending == 1 and load_drift(engine) == []
    _end(queue, user, parent, JobStatus.SUCCEEDED)
    assert _statuses(engine, waiting.job_ids) == {"PENDING": 50}
    assert queue.demand()["TEST"].pending == 50 and load_drift(engine) == []


def test_cancelling_a_parent_cancels_what_waits_downstream(queue, user, engine) -> None:
    parent = _job(queue, user, 1)
    child = _job(queue, user, 2, Dependency(ANY, job_id=parent))
    grandchild = _job(queue, user, 3, Dependency(ANY, job_id=child))
    other = _job(queue, user, 4)
    unrelated = _job(queue, user, 5, Dependency(ANY, job_id=other))
    cancelled = queue.cancel_job(parent)
    assert cancelled.job.status is JobStatus.CANCELLED and cancelled.dependents == 2
    reason = f"dependency job {parent} was cancelled"
    assert _state(engine, child) == _state(engine, grandchild) == ("CANCELLED", reason)
    assert _state(engine, unrelated) == ("WAITING", None)


def test_cancelling_through_a_batch_reaches_its_dependents(queue, user, engine) -> None:
    prepare = _job(queue, user, 1)
    batch = Batches(engine, queue.registry).create(
        user_id=user, job_type="TEST", inputs=[{"id": 10 + i} for i in range(2)]
    )
    # The sweep's jobs wait for prepare; the aggregate waits for the whole sweep.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET status = 'WAITING' WHERE id = ANY(:ids)"), {"ids": batch.job_ids}
        )
        depend(conn, batch.job_ids, [Dependency(OK, job_id=prepare)])
    aggregate = _job(queue, user, 20, Dependency(ANY, batch_id=batch.batch.id))
    assert queue.cancel_job(prepare).dependents == 3
    assert _state(engine, aggregate)[0] == "CANCELLED"


def test_cancel_keeping_dependents_lets_their_conditions_decide(queue, user, engine) -> None:
    parent = _job(queue, user, 1)
    anyway = _job(queue, user, 2, Dependency(ANY, job_id=parent))
    ok = _job(queue, user, 3, Dependency(OK, job_id=parent))
    assert queue.cancel_job(parent, dependents=False).dependents == 0
    assert _state(engine, anyway) == ("PENDING", None)
    assert _state(engine, ok) == ("CANCELLED", f"dependency job {parent} ended CANCELLED (afterok)")


def test_a_missing_parent_creates_nothing(queue, user, engine) -> None:
    with pytest.raises(NotFound, match="job 999999"):
        _job(queue, user, 1, Dependency(OK, job_id=999_999))
    with pytest.raises(NotFound, match="batch 999999"):
        _job(queue, user, 1, Dependency(OK, batch_id=999_999))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 0


def _lock_waiters(engine: Engine) -> int:
    """How many sessions of this database wait for a lock."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.01)


def _in_thread(call: Callable[[], object], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            call()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _end_later(queue: Queue, user: int, job_id: int, errors: list[BaseException]):
    worker = claimant(user, f"w{job_id}")
    held = queue.assign(job_id, worker)
    return _in_thread(
        lambda: queue.complete(
            held.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
        ),
        errors,
    )


def test_a_batch_ending_while_a_dependent_is_submitted_never_strands_it(
    queue, user, engine
) -> None:
    """A batch's last job's end is held after it read the batch's dependents (the one
    it had is locked here) but before it commits; a new dependent of the batch submitted
    meanwhile waits for that commit and sees the batch ended, instead of waiting behind
    it forever. (A job parent's end also holds off the dependency's foreign key check.)"""
    batch = Batches(engine, queue.registry).create(
        user_id=user, job_type="TEST", inputs=[{"id": 1}]
    )
    first = _job(queue, user, 2, Dependency(OK, batch_id=batch.batch.id))
    errors: list[BaseException] = []
    with engine.connect() as holder:
        holder.execute(text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": first})
        ending = _end_later(queue, user, batch.job_ids[0], errors)
        _until(lambda: _lock_waiters(engine) == 1, "the batch's end waiting for its dependent")
        later: list[int] = []
        submit = _in_thread(
            lambda: later.append(_job(queue, user, 3, Dependency(OK, batch_id=batch.batch.id))),
            errors,
        )
        _until(
            lambda: _lock_waiters(engine) == 2 or not submit.is_alive(),
            "the submission waiting for the batch's job, or done",
        )
        holder.commit()
    ending.join(timeout=60)
    submit.join(timeout=60)
    assert not errors, errors
    assert _statuses(engine, [first, *later]) == {"PENDING": 2}


def test_two_parents_ending_at_once_judge_their_dependent_one_after_the_other(
    queue, engine
) -> None:
    """Two parents (of two users: nothing else orders their ends) end at once; each
    end judges the common dependent only once it holds its lock, so the second sees
    the first's end and releases it."""
    alice, bob = make_user(engine, "alice@example.org"), make_user(engine, "bob@example.org")
    first, second = _job(queue, alice, 1), _job(queue, bob, 2)
    child = _job(queue, alice, 3, Dependency(OK, job_id=first), Dependency(OK, job_id=second))
    errors: list[BaseException] = []
    with engine.connect() as holder:
        holder.execute(text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": child})
        ends = [_end_later(queue, alice, first, errors), _end_later(queue, bob, second, errors)]
        _until(lambda: _lock_waiters(engine) == 2, "both ends waiting for the dependent")
        holder.commit()
    for thread in ends:
        thread.join(timeout=60)
    assert not errors, errors
    assert _state(engine, child) == ("PENDING", None)


def _statuses(engine: Engine, job_ids: list[int]) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, count(*) FROM jobs WHERE id = ANY(:ids) GROUP BY status"),
            {"ids": job_ids},
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_cancelling_a_waiting_batch_cancels_it_and_what_waits_on_it(queue, user, engine) -> None:
    parent = _job(queue, user, 1)
    batches = Batches(engine, queue.registry)
    sweep = batches.create(
        user_id=user,
        job_type="TEST",
        inputs=[{"id": 10 + i} for i in range(3)],
        dependencies=[Dependency(OK, job_id=parent)],
    )
    aggregate = _job(queue, user, 20, Dependency(ANY, batch_id=sweep.batch.id))
    cancelled = batches.cancel(sweep.batch.id, creator=user)
    assert cancelled.by_type == {"TEST": 3} and cancelled.dependents == 1
    assert _statuses(engine, sweep.job_ids) == {"CANCELLED": 3}
    assert _state(engine, aggregate) == (
        "CANCELLED",
        f"dependency batch {sweep.batch.id} was cancelled",
    )
    assert _state(engine, parent) == ("PENDING", None)
