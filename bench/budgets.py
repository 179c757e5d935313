"""What the budget gate costs a submission, through the queue layer.

    .venv/bin/python bench/budgets.py [--jobs 300] [--batch 1000] [--batches 5] [--open 1000]

For each case, ``--jobs`` single submissions (``Queue.create``, each a new job: no
cache) one after the other, then ``--batches`` sweeps of ``--batch`` new inputs
(``Batches.create``), by one user:

- no budget: no budget anywhere (the gate is one index lookup that finds nothing);
- others' budgets: 1,000 other users have one, and a default is not set;
- own budget: the user has one, nothing else of theirs is unfinished;
- own budget, busy: the user has one, ``--open`` unfinished jobs of two types and 200
  ended attempts behind them (the estimate's median and the month's usage are read).

Prints p50 and p95 of a single submission and the median of a sweep, in ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from bench.measure import percentile
from bench.support import benchmark_database, machine, print_table
from shared.enums import JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store.engine import make_engine
from webapi.store.queue import Queue, StorageTarget
from webapi.store.queue_batches import Batches
from webapi.store.records import Claimant

NUMBERS = itertools.count(1)
BIG = 10**7  # a limit nothing here reaches


def _user(engine: Engine, email: str) -> int:
    with engine.begin() as conn:
        found = conn.execute(
            text(
                "INSERT INTO users (email, password_hash, roles)"
                " VALUES (:email, 'x', ARRAY['ANALYST']) RETURNING id"
            ),
            {"email": email},
        ).scalar_one()
    return int(found)


def _budget(engine: Engine, user_id: int | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO budgets (user_id, cost_limit) VALUES (:u, :limit)"),
            {"u": user_id, "limit": BIG},
        )


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _case(queue: Queue, batches: Batches, user: int, args: argparse.Namespace) -> list[float]:
    singles = [
        _timed(
            lambda: queue.create(
                user_id=user, job_type="TEST", payload={"id": next(NUMBERS)}, use_cache=False
            )
        )
        for _ in range(args.jobs)
    ]
    sweeps = [
        _timed(
            lambda: batches.create(
                user_id=user,
                job_type="TEST",
                inputs=[{"id": next(NUMBERS)} for _ in range(args.batch)],
                use_cache=False,
            )
        )
        for _ in range(args.batches)
    ]
    return [percentile(singles, 0.5), percentile(singles, 0.95), statistics.median(sweeps)]


def _busy(engine: Engine, queue: Queue, user: int, unfinished: int) -> None:
    """200 ended attempts of the user's TEST jobs, then ``unfinished`` jobs left open."""
    for _ in range(200):
        queue.create(user_id=user, job_type="TEST", payload={"id": next(NUMBERS)}, use_cache=False)
    worker = Claimant("bench-task", "bench-cluster", user)
    while claimed := queue.claim_many(["TEST"], worker, 50):
        for one in claimed:
            queue.complete(one.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={})
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                " lease_seconds) SELECT CASE WHEN i % 2 = 0 THEN 'TEST' ELSE 'POLYGON_STATS'"
                " END, :user, jsonb_build_object('id', -i), md5((-i)::text), 3, 60"
                " FROM generate_series(1, :n) i"
            ),
            {"user": user, "n": unfinished},
        )
        conn.execute(text("ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--open", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    with benchmark_database() as (url, _server):
        engine = make_engine(url, pool_size=4, max_overflow=0)
        registry = default_registry()
        queue = Queue(engine, registry, StorageTarget(StorageScheme.LOCAL, "file:///bench"))
        batches = Batches(engine, registry)
        plain = _user(engine, "plain@example.org")
        rows.append(["no budget", *_case(queue, batches, plain, args)])
        for n in range(1000):
            _budget(engine, _user(engine, f"other-{n}@example.org"))
        rows.append(["others' budgets", *_case(queue, batches, plain, args)])
        own = _user(engine, "own@example.org")
        _budget(engine, own)
        rows.append(["own budget", *_case(queue, batches, own, args)])
        busy = _user(engine, "busy@example.org")
        _busy(engine, queue, busy, args.open)
        _budget(engine, busy)
        rows.append([f"own budget, {args.open:,} open", *_case(queue, batches, busy, args)])
        engine.dispose()
    print(
        f"submission latency, {args.jobs} single jobs and {args.batches} sweeps of"
        f" {args.batch:,} new inputs per case, one at a time; {machine()}"
    )
    print_table(["case", "single p50 ms", "single p95 ms", "sweep median ms"], rows)


if __name__ == "__main__":
    main()
