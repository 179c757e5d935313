"""Releasing many dependents at once: one parent ends, and every job waiting on it
becomes PENDING in the transaction that ends it (``job_ended`` → ``settle_waiting``).

    .venv/bin/python bench/release.py [--dependents 10000] [--rounds 3]

Each round submits one parent and ``--dependents`` jobs that wait for it (one batch,
``afterok`` on the parent), claims the parent, then times the parent's
``Queue.complete``: the statement, its trigger and the commit. It reports the time of
each round and checks that every dependent is PENDING afterwards. Issue 27 asks for
≤ 1 s at 10,000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.support import benchmark_database, machine, print_table
from shared.enums import DependencyCondition, JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store.dependencies import Dependency
from webapi.store.engine import make_engine
from webapi.store.queue import Queue, StorageTarget
from webapi.store.queue_batches import Batches
from webapi.store.records import Claimant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dependents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with benchmark_database() as (url, _):
        engine = make_engine(url)
        registry = default_registry()
        queue = Queue(engine, registry, StorageTarget(StorageScheme.LOCAL, "file:///bench"))
        batches = Batches(engine, registry)
        with engine.begin() as conn:
            user = conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, roles)"
                    " VALUES ('bench@example.org', 'x', ARRAY['ANALYST']) RETURNING id"
                )
            ).scalar_one()
        worker = Claimant("bench", "bench", user)
        timings = []
        for round_ in range(args.rounds):
            parent = queue.create(user_id=user, job_type="TEST", payload={"id": -round_ - 1})
            inputs = [{"id": round_ * args.dependents + i} for i in range(args.dependents)]
            waiting = batches.create(
                user_id=user,
                job_type="TEST",
                inputs=inputs,
                dependencies=[Dependency(DependencyCondition.AFTEROK, job_id=parent.job.id)],
            )
            claimed = queue.assign(parent.job.id, worker)
            started = time.perf_counter()
            queue.complete(
                claimed.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
            )
            timings.append(time.perf_counter() - started)
            with engine.connect() as conn:
                released = conn.execute(
                    text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND status = 'PENDING'"),
                    {"ids": waiting.job_ids},
                ).scalar_one()
            assert released == args.dependents, (released, args.dependents)
            with engine.begin() as conn:  # the next round's claims see only its own jobs
                conn.execute(
                    text("UPDATE jobs SET status = 'CANCELLED' WHERE id = ANY(:ids)"),
                    {"ids": waiting.job_ids},
                )
        engine.dispose()
    print(f"machine: {machine()}")
    rows = [(i + 1, args.dependents, t * 1000) for i, t in enumerate(timings)]
    print_table(["round", "dependents released", "parent's complete (ms)"], rows)
    print(f"median: {statistics.median(timings) * 1000:,.1f} ms")


if __name__ == "__main__":
    main()
