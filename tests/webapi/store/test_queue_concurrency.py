"""Claims under real concurrency: many threads, each on its own connection."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import Engine, text

from shared.enums import JobStatus
from tests.support.queue import bulk_jobs, claimant, make_queue, make_user

THREADS = 16
JOBS = 2000


def test_sixteen_claimers_take_every_job_exactly_once(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine, "worker@example.org", "WORKER")
    bulk_jobs(engine, user, JOBS)
    taken: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        worker = claimant(user, f"w{index}")
        try:
            start.wait()
            while (claimed := queue.claim(["TEST"], worker)) is not None:
                queue.complete(
                    claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
                )
                taken[index].append(claimed.job.id)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors[:3]
    counts = Counter(job_id for ids in taken for job_id in ids)
    assert len(counts) == JOBS and set(counts.values()) == {1}
    assert sum(1 for ids in taken if ids) > 1, "work should spread over several claimers"
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all()
        )
        results = conn.execute(
            text("SELECT count(*), count(DISTINCT job_id) FROM job_results")
        ).one()
        attempts = conn.execute(text("SELECT max(attempts) FROM jobs")).scalar_one()
    assert statuses == {"SUCCEEDED": JOBS}
    assert tuple(results) == (JOBS, JOBS)
    assert attempts == 1


def test_concurrent_assigns_of_one_job_admit_exactly_one(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine, "worker@example.org", "WORKER")
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def assign(index: int) -> None:
        start.wait()
        try:
            queue.assign(job.id, claimant(user, f"w{index}"))
            outcomes.append("ok")
        except Exception as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=assign, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(outcomes) == {"ok": 1, "IllegalState": 11}
