"""What the API knows of each worker: how long it has been silent, by the database's clock."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, text

from tests.support.queue import claimant, make_queue, make_user
from webapi.store import workers
from webapi.store.workers import TOUCH_SLACK_SECONDS, ContactBook

WORKER = "arn:aws:ecs:local:0:task/shoal/worker-1"


def _shift(engine: Engine, sql: str, seconds: float) -> None:
    """Move a timestamp ``seconds`` into the past."""
    with engine.begin() as conn:
        conn.execute(text(sql), {"s": seconds})


def _silent(engine: Engine, identity: str = WORKER) -> float | None:
    [found] = workers.contacts(engine, [identity])
    return found.silent_seconds


def _contact_until(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT contact_until FROM workers WHERE identity = :i"), {"i": WORKER}
        ).scalar_one()


def test_a_worker_never_heard_from_has_no_silence(engine: Engine) -> None:
    [found] = workers.contacts(engine, ["local:h:1"])
    assert (found.identity, found.silent_seconds, found.lost) == ("local:h:1", None, False)


def test_silence_starts_when_a_claims_wait_is_over(engine: Engine) -> None:
    book = ContactBook(engine)
    book.touch(WORKER, 30)
    assert _silent(engine) == 0  # it may still be waiting in that claim
    _shift(engine, "UPDATE workers SET contact_until = now() - :s * interval '1 second'", 40)
    silent = _silent(engine)
    assert silent is not None and 40 <= silent < 50


def test_a_busy_worker_is_heard_through_its_heartbeats(engine: Engine) -> None:
    user = make_user(engine)
    queue = make_queue(engine)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    ContactBook(engine).touch(worker.ecs_task_arn, 0)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    _shift(engine, "UPDATE workers SET contact_until = now() - :s * interval '1 second'", 100)
    _shift(engine, "UPDATE job_assignments SET created_at = now() - :s * interval '1 second'", 60)
    silent = _silent(engine, worker.ecs_task_arn)
    assert silent is not None and 60 <= silent < 70  # since the attempt began
    queue.heartbeat(claimed.assignment.id, worker)
    silent = _silent(engine, worker.ecs_task_arn)
    assert silent is not None and silent < 10


def test_a_claim_that_returned_with_a_job_shows_nothing_past_that_job(engine: Engine) -> None:
    """A worker that froze on the job its claim returned is silent from that job on, not
    from the end of the claim's wait."""
    user = make_user(engine)
    queue = make_queue(engine)
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    ContactBook(engine).touch(worker.ecs_task_arn, 300)
    assert queue.claim(["TEST"], worker) is not None
    _shift(engine, "UPDATE workers SET claimed_at = claimed_at - :s * interval '1 second'", 60)
    _shift(engine, "UPDATE job_assignments SET created_at = now() - :s * interval '1 second'", 59)
    silent = _silent(engine, worker.ecs_task_arn)
    assert silent is not None and 59 <= silent < 70


def test_answers_keep_the_order_asked_and_say_which_were_declared_lost(engine: Engine) -> None:
    ContactBook(engine).touch(WORKER, 0)
    make_queue(engine).lose_worker("local:h:2", "killed by SIGKILL", platform=True)
    found = workers.contacts(engine, ["local:h:9", "local:h:2", WORKER, "local:h:9"])
    assert [(c.identity, c.lost) for c in found] == [
        ("local:h:9", False),
        ("local:h:2", True),
        (WORKER, False),
    ]


def test_a_process_writes_a_workers_contact_only_once_it_would_move(engine: Engine) -> None:
    now = [1000.0]
    book = ContactBook(engine, clock=lambda: now[0])
    book.touch(WORKER, 20)
    first = _contact_until(engine)
    now[0] += 1
    book.touch(WORKER, 20)  # a claim per job: 1 s more is not worth a write
    assert _contact_until(engine) == first
    now[0] += TOUCH_SLACK_SECONDS
    book.touch(WORKER, 20)
    assert _contact_until(engine) > first


@pytest.mark.parametrize(
    ("contact_days", "lost_days", "kept"), [(2, None, False), (0, None, True), (2, 0, True)]
)
def test_workers_not_heard_from_for_a_day_are_forgotten(
    engine: Engine, contact_days: int, lost_days: int | None, kept: bool
) -> None:
    ContactBook(engine).touch(WORKER, 0)
    if lost_days is not None:
        make_queue(engine).lose_worker(WORKER, "gone", platform=True)
    _shift(engine, "UPDATE workers SET contact_until = now() - :s * interval '1 day'", contact_days)
    assert workers.forget_old(engine) == (0 if kept else 1)
