"""Ending many jobs in one transaction: a batch's cancel, a release, a cancel cascade.

    .venv/bin/python bench/cancel.py [--sizes 1000 10000] [--dependents 10000]

Each row is timed with no webhook subscription and with one that matches every job
(its user's, ``job.ended`` and ``batch.ended``), whose outbox rows the ending
transaction writes:
- a batch's cancel (``Batches.cancel``, one transaction) of ``--sizes`` PENDING jobs,
  and of as many with a tenth of them IN_PROGRESS (assigned first);
- a release (``bench/release.py``'s): a parent's ``Queue.complete`` making
  ``--dependents`` WAITING jobs PENDING;
- a cancel cascade: a parent's ``Queue.cancel_job`` cancelling ``--dependents``
  WAITING jobs downstream of it.
Every row checks what it timed: every job ended (or released) afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text

from bench.support import benchmark_database, machine, print_table
from shared.enums import DependencyCondition, JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store import webhooks
from webapi.store.dependencies import Dependency
from webapi.store.engine import make_engine
from webapi.store.queue import Queue, StorageTarget
from webapi.store.queue_batches import Batches
from webapi.store.records import Claimant

SUBSCRIPTION = {
    "url": "https://hooks.example.org/shoal",
    "secret": "s" * 32,
    "events": ["job.ended", "batch.ended"],
    "failures_only": False,
    "job_id": None,
    "batch_id": None,
    "payload_format": "json",
}


class Bench:
    def __init__(self, engine: Engine) -> None:
        registry = default_registry()
        self.engine = engine
        self.queue = Queue(engine, registry, StorageTarget(StorageScheme.LOCAL, "file:///bench"))
        self.batches = Batches(engine, registry)
        self.inputs = 0

    def user(self, name: str, *, subscribed: bool) -> Claimant:
        with self.engine.begin() as conn:
            user = conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, roles)"
                    " VALUES (:email, 'x', ARRAY['ANALYST']) RETURNING id"
                ),
                {"email": f"{name}@example.org"},
            ).scalar_one()
            if subscribed:
                webhooks.insert(conn, user, SUBSCRIPTION)
        return Claimant(name, name, user)

    def fresh_inputs(self, count: int) -> list[dict[str, int]]:
        self.inputs += count
        return [{"id": self.inputs - i} for i in range(count)]

    def batch_cancel(self, who: Claimant, size: int, running: int) -> float:
        batch = self.batches.create(
            user_id=who.user_id, job_type="TEST", inputs=self.fresh_inputs(size)
        )
        for job_id in batch.job_ids[:running]:
            self.queue.assign(job_id, who)
        started = time.perf_counter()
        cancelled = self.batches.cancel(batch.batch.id, creator=who.user_id)
        elapsed = time.perf_counter() - started
        assert sum(cancelled.by_type.values()) == size, cancelled
        self.check(batch.job_ids, JobStatus.CANCELLED)
        return elapsed

    def waiting_on_parent(self, who: Claimant, dependents: int) -> tuple[int, list[int]]:
        [payload] = self.fresh_inputs(1)
        parent = self.queue.create(user_id=who.user_id, job_type="TEST", payload=payload)
        waiting = self.batches.create(
            user_id=who.user_id,
            job_type="TEST",
            inputs=self.fresh_inputs(dependents),
            dependencies=[Dependency(DependencyCondition.AFTEROK, job_id=parent.job.id)],
        )
        return parent.job.id, waiting.job_ids

    def release(self, who: Claimant, dependents: int) -> float:
        parent, waiting = self.waiting_on_parent(who, dependents)
        claimed = self.queue.assign(parent, who)
        started = time.perf_counter()
        self.queue.complete(
            claimed.assignment.id, who, status=JobStatus.SUCCEEDED, result_payload={}
        )
        elapsed = time.perf_counter() - started
        self.check(waiting, JobStatus.PENDING)
        with self.engine.begin() as conn:  # out of the way of the next rows' claims
            conn.execute(
                text("UPDATE jobs SET status = 'CANCELLED' WHERE id = ANY(:ids)"),
                {"ids": waiting},
            )
        return elapsed

    def cascade(self, who: Claimant, dependents: int) -> float:
        parent, waiting = self.waiting_on_parent(who, dependents)
        started = time.perf_counter()
        cancelled = self.queue.cancel_job(parent)
        elapsed = time.perf_counter() - started
        assert cancelled.dependents == dependents, cancelled
        self.check(waiting, JobStatus.CANCELLED)
        return elapsed

    def check(self, job_ids: list[int], status: JobStatus) -> None:
        with self.engine.connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND status = :status"),
                {"ids": job_ids, "status": status.value},
            ).scalar_one()
        assert count == len(job_ids), (count, len(job_ids), status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--dependents", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    with benchmark_database() as (url, _):
        engine = make_engine(url)
        bench = Bench(engine)
        plain = bench.user("plain", subscribed=False)
        subscribed = bench.user("subscribed", subscribed=True)

        def row(what: str, jobs: int, run: Callable[[Claimant, int], float]) -> None:
            times = [run(plain, jobs), run(subscribed, jobs)]
            rows.append((what, f"{jobs:,}", *(f"{t:.2f}" for t in times)))

        for size in args.sizes:
            row("batch cancel, all PENDING", size, lambda who, n: bench.batch_cancel(who, n, 0))
            row(
                "batch cancel, 10% IN_PROGRESS",
                size,
                lambda who, n: bench.batch_cancel(who, n, n // 10),
            )
        row("release (parent completes)", args.dependents, bench.release)
        row("cancel cascade (parent cancelled)", args.dependents, bench.cascade)
        engine.dispose()
    print(f"machine: {machine()}")
    print_table(["case", "jobs", "no subscription (s)", "one subscription (s)"], rows)


if __name__ == "__main__":
    main()
