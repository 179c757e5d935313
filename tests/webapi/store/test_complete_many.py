"""complete_many: several results in one statement, each answered on its own."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import Engine, text

from shared.enums import JobStatus
from shared.errors import Forbidden, IllegalState, InvalidInput, NotFound
from tests.support.queue import bulk_jobs, claimant, expire_leases, make_queue, make_user
from webapi.store.queue import MAX_RESULTS, Outcome


@pytest.fixture
def queue(engine: Engine):
    return make_queue(engine, max_attempts=2)


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


def _statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, status FROM jobs")).all())


def _results(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT job_id FROM job_results")).scalars())


def _expire(engine: Engine, job_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": job_id},
        )


def test_good_and_refused_results_are_each_answered_and_the_good_ones_kept(
    queue, user: int, engine: Engine
) -> None:
    for i in range(6):
        queue.create(user_id=user, job_type="TEST", payload={"id": i})
    mine, other = claimant(user, "mine"), claimant(make_user(engine, "other@example.org"), "o")
    good = queue.claim_many(["TEST"], mine, 2)
    stolen = queue.claim(["TEST"], other)  # held by another worker's credential
    bad_schema = queue.claim(["TEST"], mine)
    cancelled = queue.claim(["TEST"], mine)
    queue.cancel(cancelled.job.id)
    overtaken = queue.claim(["TEST"], mine)
    _expire(engine, overtaken.job.id)
    takeover = queue.claim(["TEST"], claimant(user, "later"))
    assert takeover is not None and takeover.job.id == overtaken.job.id
    # A fresh queue remembers no claim: types are looked up, as in another API process.
    fresh = make_queue(engine, max_attempts=2)
    answers = fresh.complete_many(
        [
            Outcome(good[0].assignment.id, JobStatus.SUCCEEDED, {}),
            Outcome(stolen.assignment.id, JobStatus.SUCCEEDED, {}),
            Outcome(bad_schema.assignment.id, JobStatus.SUCCEEDED, {"unexpected": 1}),
            Outcome(cancelled.assignment.id, JobStatus.FAILED, error="late"),
            Outcome(999_999, JobStatus.SUCCEEDED, {}),
            Outcome(overtaken.assignment.id, JobStatus.SUCCEEDED, {}),
            Outcome(good[1].assignment.id, JobStatus.FAILED, error="boom"),
        ],
        mine,
    )
    assert len(answers) == 7
    assert isinstance(answers[1], Forbidden) and "another worker" in answers[1].message
    assert isinstance(answers[2], InvalidInput) and "resultPayload.unexpected" in answers[2].errors
    assert isinstance(answers[3], IllegalState) and "cancelled" in answers[3].message
    assert isinstance(answers[4], NotFound) and "999999" in answers[4].message
    assert isinstance(answers[5], IllegalState) and "taken over" in answers[5].message
    assert answers[0].status is JobStatus.SUCCEEDED and answers[0].id == good[0].job.id
    assert answers[6].status is JobStatus.FAILED and answers[6].error_message == "boom"
    statuses = _statuses(engine)
    assert statuses[good[0].job.id] == "SUCCEEDED" and statuses[good[1].job.id] == "FAILED"
    assert statuses[stolen.job.id] == "IN_PROGRESS"
    assert statuses[bad_schema.job.id] == "IN_PROGRESS"
    assert statuses[cancelled.job.id] == "CANCELLED"
    assert statuses[overtaken.job.id] == "IN_PROGRESS"
    assert _results(engine) == [good[0].job.id]


def test_each_refusal_says_what_the_single_complete_says(queue, user: int, engine) -> None:
    for i in range(2):
        queue.create(user_id=user, job_type="TEST", payload={"id": i})
    mine, other = claimant(user, "mine"), claimant(make_user(engine, "other@example.org"), "o")
    stolen, cancelled = queue.claim(["TEST"], other), queue.claim(["TEST"], mine)
    queue.cancel(cancelled.job.id)
    for assignment_id in (stolen.assignment.id, cancelled.assignment.id, 999_999):
        [answer] = queue.complete_many([Outcome(assignment_id, JobStatus.SUCCEEDED, {})], mine)
        with pytest.raises(type(answer)) as single:
            queue.complete(assignment_id, mine, status=JobStatus.SUCCEEDED, result_payload={})
        assert single.value.message == answer.message


def test_a_result_after_a_takeover_is_refused_and_the_new_holder_keeps_the_job(
    queue, user: int, engine: Engine
) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    first, second = claimant(user, "a"), claimant(user, "b")
    one = queue.claim(["TEST"], first)
    queue.create(user_id=user, job_type="TEST", payload={"id": 2})
    kept = queue.claim(["TEST"], first)
    _expire(engine, one.job.id)  # only the first job's lease runs out
    two = queue.claim(["TEST"], second)
    assert two is not None and two.job.id == one.job.id
    answers = queue.complete_many(
        [
            Outcome(one.assignment.id, JobStatus.SUCCEEDED, {}),
            Outcome(kept.assignment.id, JobStatus.SUCCEEDED, {}),
        ],
        first,
    )
    assert isinstance(answers[0], IllegalState) and "taken over" in answers[0].message
    assert answers[1].status is JobStatus.SUCCEEDED
    assert _statuses(engine)[one.job.id] == "IN_PROGRESS"
    done = queue.complete(two.assignment.id, second, status=JobStatus.SUCCEEDED, result_payload={})
    assert done.attempts == 2 and _results(engine) == sorted([one.job.id, kept.job.id])


def test_a_late_result_nobody_took_over_is_still_taken(queue, user: int, engine) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    expire_leases(engine)
    late = Outcome(claimed.assignment.id, JobStatus.SUCCEEDED, {})
    [answer] = queue.complete_many([late], worker)
    assert answer.status is JobStatus.SUCCEEDED


def test_a_call_naming_an_assignment_twice_or_too_many_changes_nothing(
    queue, user: int, engine
) -> None:
    queue.create(user_id=user, job_type="TEST", payload={"id": 1})
    worker = claimant(user)
    claimed = queue.claim(["TEST"], worker)
    twice = [Outcome(claimed.assignment.id, JobStatus.SUCCEEDED, {})] * 2
    with pytest.raises(InvalidInput, match="appears more than once"):
        queue.complete_many(twice, worker)
    many = [Outcome(i, JobStatus.FAILED) for i in range(MAX_RESULTS + 1)]
    with pytest.raises(InvalidInput, match=f"At most {MAX_RESULTS}"):
        queue.complete_many(many, worker)
    assert _statuses(engine) == {claimed.job.id: "IN_PROGRESS"}


THREADS = 8
JOBS = 1000


def test_concurrent_batches_and_takeovers_finish_each_job_exactly_once(engine: Engine) -> None:
    """Workers claim ten and report ten at once while a thief keeps expiring leases and
    taking jobs over: every job ends with exactly one result, by its last holder."""
    queue = make_queue(engine)
    user = make_user(engine, "worker@example.org", "WORKER")
    bulk_jobs(engine, user, JOBS)
    accepted: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    refusals = Counter[str]()
    start = threading.Barrier(THREADS + 1)
    done = threading.Event()

    def work(index: int) -> None:
        worker = claimant(user, f"w{index}")
        try:
            start.wait()
            while claimed := queue.claim_many(["TEST"], worker, 10):
                outcomes = [Outcome(c.assignment.id, JobStatus.SUCCEEDED, {}) for c in claimed]
                for c, answer in zip(claimed, queue.complete_many(outcomes, worker), strict=True):
                    if isinstance(answer, Exception):
                        refusals[type(answer).__name__] += 1
                    else:
                        accepted[index].append(c.job.id)
        except BaseException as error:
            errors.append(error)

    def steal() -> None:
        # Expire whatever is held right now, so the claimers take those jobs over.
        start.wait()
        while not done.is_set():
            with engine.begin() as conn:
                conn.execute(  # locking in id order, as complete_many does: no deadlock
                    text(
                        "UPDATE jobs SET lease_expires_at = now() - interval '1 second'"
                        " WHERE id IN (SELECT id FROM jobs WHERE status = 'IN_PROGRESS'"
                        " ORDER BY id FOR UPDATE)"
                    )
                )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    thief = threading.Thread(target=steal)
    for thread in [*threads, thief]:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    done.set()
    thief.join(timeout=30)
    assert not errors, errors[:3]
    counts = Counter(job_id for ids in accepted for job_id in ids)
    assert len(counts) == JOBS and set(counts.values()) == {1}
    assert set(refusals) <= {"IllegalState"}
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all()
        )
        results = conn.execute(text("SELECT count(*), count(DISTINCT job_id) FROM job_results"))
        winners = conn.execute(
            text(
                "SELECT count(*) FROM job_results r JOIN job_assignments a"
                " ON a.id = r.assignment_id JOIN jobs j ON j.id = r.job_id"
                " WHERE a.attempt <> j.attempts"
            )
        ).scalar_one()
        taken_over = conn.execute(text("SELECT count(*) FROM jobs WHERE attempts > 1")).scalar()
        results_row = tuple(results.one())
    assert statuses == {"SUCCEEDED": JOBS}
    assert results_row == (JOBS, JOBS)
    assert winners == 0  # each result is its job's newest attempt's
    assert taken_over > 0, "the thief should have forced some takeovers"
    assert refusals["IllegalState"] > 0, "some results should have lost their job"
