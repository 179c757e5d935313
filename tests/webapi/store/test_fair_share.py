"""The fair-share claim: users take turns, weights share workers in proportion,
priorities order one user's own jobs, max running holds under concurrent claimers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, text

from shared.enums import JobStatus
from tests.support.queue import (
    bulk_jobs,
    claimant,
    load_drift,
    make_queue,
    make_user,
    set_quota,
)
from webapi.store.queue import Claimed, Queue


@pytest.fixture
def queue(engine: Engine) -> Queue:
    return make_queue(engine)


@pytest.fixture
def worker(engine: Engine) -> int:
    return make_user(engine, "worker@example.org", "WORKER")


def _users(engine: Engine, n: int) -> list[int]:
    return [make_user(engine, f"user{i}@example.org") for i in range(n)]


def _capped_and_other(
    engine: Engine, max_running: int, capped_jobs: int, other_jobs: int
) -> tuple[int, int]:
    """Two users with PENDING TEST jobs, the first with a max running."""
    capped, other = _users(engine, 2)
    set_quota(engine, capped, max_running=max_running)
    bulk_jobs(engine, capped, capped_jobs)
    bulk_jobs(engine, other, other_jobs)
    return capped, other


def _finish(queue: Queue, worker: int, claimed: Claimed) -> None:
    queue.complete(
        claimed.assignment.id, claimant(worker), status=JobStatus.SUCCEEDED, result_payload={}
    )


def test_a_small_backlog_is_served_in_turn_with_a_big_one(
    engine: Engine, queue: Queue, worker: int
) -> None:
    big, small = _users(engine, 2)
    bulk_jobs(engine, big, 1000)
    bulk_jobs(engine, small, 3)
    served = []
    for _ in range(8):
        claimed = queue.claim(["TEST"], claimant(worker))
        assert claimed is not None
        served.append(claimed.job.user_id)
        _finish(queue, worker, claimed)
    # one worker: the users alternate (the one waiting longest first), then the big one
    assert served == [big, small, big, small, big, small, big, big]
    assert load_drift(engine) == []


def test_weights_share_claims_in_proportion(engine: Engine, queue: Queue, worker: int) -> None:
    heavy, light, other = _users(engine, 3)
    set_quota(engine, heavy, weight=3)
    for user in (heavy, light, other):
        bulk_jobs(engine, user, 200)
    taken: Counter[int] = Counter()
    for rounds in range(1, 11):
        for _ in range(5):
            claimed = queue.claim(["TEST"], claimant(worker))
            assert claimed is not None
            taken[claimed.job.user_id] += 1
        # after every 5 claims, running jobs per weight are equal: 3:1:1 exactly
        assert (taken[heavy], taken[light], taken[other]) == (3 * rounds, rounds, rounds)
    assert load_drift(engine) == []


def test_priorities_order_one_users_jobs_but_not_between_users(
    engine: Engine, queue: Queue, worker: int
) -> None:
    first, second = _users(engine, 2)
    ids = {}
    for n, priority in enumerate([0, 5, -1, 5, 100]):
        ids[n] = queue.create(
            user_id=first, job_type="TEST", payload={"id": n}, priority=priority
        ).job.id
    plain = [
        queue.create(user_id=second, job_type="TEST", payload={"id": 10 + n}).job.id
        for n in range(3)
    ]
    order = []
    while (claimed := queue.claim(["TEST"], claimant(worker))) is not None:
        order.append(claimed.job.id)
        _finish(queue, worker, claimed)
    assert order == [ids[4], plain[0], ids[1], plain[1], ids[3], plain[2], ids[0], ids[2]]


def test_a_batch_claim_spreads_over_users(engine: Engine, queue: Queue, worker: int) -> None:
    users = _users(engine, 4)
    for user in users:
        bulk_jobs(engine, user, 30)
    batch = queue.claim_many(["TEST"], claimant(worker), 8)
    assert Counter(c.job.user_id for c in batch) == dict.fromkeys(users, 2)
    two = users[:2]
    for claimed in batch:
        _finish(queue, worker, claimed)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM jobs WHERE user_id = ANY(:u)"), {"u": users[2:]})
    batch = queue.claim_many(["TEST"], claimant(worker), 50)
    assert Counter(c.job.user_id for c in batch) == {two[0]: 25, two[1]: 25}
    assert load_drift(engine) == []


def test_max_running_skips_the_user_until_a_job_ends(
    engine: Engine, queue: Queue, worker: int
) -> None:
    capped, free = _capped_and_other(engine, 2, 10, 10)
    claims = [queue.claim(["TEST"], claimant(worker)) for _ in range(6)]
    owners = Counter(c.job.user_id for c in claims if c is not None)
    assert owners == {capped: 2, free: 4}
    assert len(queue.claim_many(["TEST"], claimant(worker), 50)) == 6  # free's rest only
    _finish(queue, worker, next(c for c in claims if c is not None and c.job.user_id == capped))
    again = queue.claim(["TEST"], claimant(worker))
    assert again is not None and again.job.user_id == capped
    assert queue.claim(["TEST"], claimant(worker)) is None
    assert load_drift(engine) == []


THREADS = 16


def _concurrently(work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors[:3]


def test_max_running_holds_under_concurrent_claimers(
    engine: Engine, queue: Queue, worker: int
) -> None:
    capped, other = _capped_and_other(engine, 3, 200, 5)
    taken: list[Claimed] = []

    def claim(index: int) -> None:
        for _ in range(4):
            taken.extend(queue.claim_many(["TEST"], claimant(worker, f"w{index}"), 1 + index % 3))

    _concurrently(claim)
    owners = Counter(c.job.user_id for c in taken)
    assert owners == {capped: 3, other: 5}
    assert len({c.job.id for c in taken}) == len(taken)
    assert load_drift(engine) == []


def test_counters_never_drift(engine: Engine, queue: Queue, worker: int) -> None:
    users = _users(engine, 4)
    for n, user in enumerate(users):
        bulk_jobs(engine, user, 100 + n)
        bulk_jobs(engine, user, 10, job_type="POLYGON_STATS")
    outcomes = Counter[str]()

    def churn(index: int) -> None:
        me = claimant(worker, f"w{index}")
        for step in range(25):
            batch = queue.claim_many(["TEST", "POLYGON_STATS"], me, 1 + step % 3)
            for n, claimed in enumerate(batch):
                kind = (index + step + n) % 5
                if kind == 0:
                    queue.release(claimed.assignment.id, me)
                elif kind == 1:
                    queue.cancel(claimed.job.id)
                elif kind == 2:
                    queue.complete(claimed.assignment.id, me, status=JobStatus.FAILED, error="x")
                elif kind == 3:
                    queue.complete(
                        claimed.assignment.id, me, status=JobStatus.SUCCEEDED, result_payload={}
                    ) if claimed.job.type == "TEST" else None
                outcomes[str(kind)] += 1  # kind 4 (and POLYGON_STATS 3): left running

    _concurrently(churn)
    assert load_drift(engine) == []
    assert set(outcomes) == {"0", "1", "2", "3", "4"}
    with engine.begin() as conn:  # the leases run out: some are taken over, the rest swept
        conn.execute(
            text(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 s'"
                " WHERE status = 'IN_PROGRESS'"
            )
        )
    taken_over = queue.claim_many(["TEST"], claimant(worker), 5)
    assert taken_over and all(c.job.attempts > 1 for c in taken_over)
    queue.expire()
    assert load_drift(engine) == []
    pending = queue.poll("TEST", limit=3)
    for job in pending[:2]:
        queue.cancel(job.id)
    running = queue.claim(["POLYGON_STATS"], claimant(worker))
    assert running is not None
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM jobs WHERE id = ANY(:ids)"), {"ids": [pending[2].id, running.job.id]}
        )
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": users[0]})
    assert queue.prune(0) > 0
    assert load_drift(engine) == []
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM job_loads WHERE user_id = :u"), {"u": users[0]}
            ).scalar_one()
            == 0
        )


def test_fair_share_off_claims_the_oldest(engine: Engine, worker: int) -> None:
    queue = make_queue(engine, fair_share=False)
    big, small = _users(engine, 2)
    bulk_jobs(engine, big, 5)
    bulk_jobs(engine, small, 2)
    served = []
    while (claimed := queue.claim(["TEST"], claimant(worker))) is not None:
        served.append(claimed.job.user_id)
    assert served == [big] * 5 + [small] * 2
    assert load_drift(engine) == []


def _lock_counter_row(engine: Engine, user: int) -> Connection:
    """A connection holding the user's job_loads row locked, as a claim or result in
    flight would."""
    conn = engine.connect()
    locked = conn.execute(
        text("SELECT count(*) FROM (SELECT 1 FROM job_loads WHERE user_id = :u FOR UPDATE) l"),
        {"u": user},
    ).scalar_one()
    assert locked == 1
    return conn


def _stripes(engine: Engine, user: int) -> tuple[int, int, int]:
    """(stripes, their pending, their running) of a user."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(pending), 0), coalesce(sum(running), 0)"
                " FROM job_load_stripes WHERE user_id = :u"
            ),
            {"u": user},
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_claims_and_results_of_one_user_pass_its_busy_counter_row(
    engine: Engine, queue: Queue, worker: int
) -> None:
    """Nothing waits for the user's job_loads row: with it held, 16 claimers still claim
    and complete; the counts land in stripes, and job_loads plus stripes equal the jobs."""
    (user,) = _users(engine, 1)
    bulk_jobs(engine, user, THREADS * 8)
    finished = threading.Semaphore(0)
    held = _lock_counter_row(engine, user)
    try:

        def churn(index: int) -> None:
            me = claimant(worker, f"w{index}")
            for step in range(4):
                for claimed in queue.claim_many(["TEST"], me, 1 + step % 2):
                    _finish(queue, worker, claimed)
            queue.claim(["TEST"], me)  # left running
            finished.release()

        runner = threading.Thread(target=_concurrently, args=(churn,))
        runner.start()
        assert all(finished.acquire(timeout=120) for _ in range(THREADS))  # row still held
    finally:
        held.rollback()
        held.close()
    runner.join()
    stripes, pending, running = _stripes(engine, user)
    assert stripes > 1 and pending == -THREADS * 7 and running == THREADS
    assert load_drift(engine) == []
    with engine.connect() as conn:
        counts = conn.execute(
            text("SELECT pending, running FROM job_loads WHERE user_id = :u"), {"u": user}
        ).one()
    assert tuple(counts) == (THREADS * 8, 0)  # the row itself was never written


def test_the_fair_order_counts_a_users_stripes(engine: Engine, worker: int) -> None:
    """Jobs started while a user's row was busy count in its stripes: the next fair
    claim serves the other user, whose row alone would look as loaded."""
    first, second = _users(engine, 2)
    bulk_jobs(engine, first, 5)
    bulk_jobs(engine, second, 5)
    held = _lock_counter_row(engine, first)
    try:
        oldest_first = make_queue(engine, fair_share=False)
        started = [oldest_first.claim(["TEST"], claimant(worker)) for _ in range(3)]
    finally:
        held.rollback()
        held.close()
    assert [c.job.user_id for c in started if c is not None] == [first] * 3
    assert _stripes(engine, first)[1:] == (-3, 3)
    claimed = make_queue(engine).claim(["TEST"], claimant(worker))
    assert claimed is not None and claimed.job.user_id == second
    assert load_drift(engine) == []


def test_a_claim_in_flight_for_one_user_sends_the_next_claim_to_the_other(
    engine: Engine, queue: Queue, worker: int
) -> None:
    """Two claims at once with two users waiting: the first has taken a job of the user
    ahead and not yet committed; the second does not read that user's counts from before
    it (both would serve the same user) but passes its locked row and serves the other."""
    first, second = _users(engine, 2)
    bulk_jobs(engine, first, 5)
    bulk_jobs(engine, second, 5)
    params = {**queue._claim_params(claimant(worker, "in-flight"), type="TEST"), "limit": 1}
    with engine.connect() as in_flight, in_flight.begin() as transaction:
        rows = queue._claims[0](in_flight, params).mappings().all()
        assert [row["job__user_id"] for row in rows] == [first]
        claimed = queue.claim(["TEST"], claimant(worker))
        transaction.rollback()
    assert claimed is not None and claimed.job.user_id == second
    assert load_drift(engine) == []
