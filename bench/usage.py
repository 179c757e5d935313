"""The usage queries at 1,000,000 attempts: p50 and p95 of each report, a job's, a batch's
and a user's spending, and the estimate.

    .venv/bin/python bench/usage.py [--attempts 1000000] [--runs 30]

Fills a fresh database with ``--attempts`` ended attempts of as many jobs (100 users,
5 types, a tenth of the jobs in 100 batches, ends spread over the last 365 days) with
generate_series, and the hourly rollup from them as the trigger would have kept it;
then times each query as the store runs it (webapi/store/usage.py, without HTTP)
``--runs`` times, each run with another user, job, batch or type.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import dataclasses
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from bench.measure import load_average
from bench.support import benchmark_database, machine, print_table
from shared.jobtypes import default_registry
from webapi.store import usage
from webapi.store.engine import make_engine
from webapi.store.sql.usage import COMPACT

USERS, TYPES, BATCHES = 100, ("TEST", "POLYGON_STATS", "A", "B", "C"), 100
YEAR = 365 * 86400

FILL = [
    """INSERT INTO users (email, password_hash, roles)
       SELECT 'u' || u || '@example.org', 'x', ARRAY['ANALYST']
       FROM generate_series(1, :users) u""",
    # Jobs ended over the last year, a random user and type each.
    """INSERT INTO jobs (type, status, user_id, input_payload, hash, max_attempts,
                         lease_seconds, attempts, created_at, started_at, finished_at)
       SELECT (ARRAY['TEST','POLYGON_STATS','A','B','C'])[1 + (i / 7) % 5], 'SUCCEEDED',
              (SELECT min(id) FROM users) + (i::bigint * 7919) % :users, '{}', md5(i::text),
              3, 60, 1,
              e - interval '10 minutes', e - interval '10 minutes', e
       FROM (SELECT i, now() - (random() * :year) * interval '1 second' AS e
             FROM generate_series(1, :attempts) i) s""",
    # Each job's one attempt: claimed at its start, ended at its end.
    """INSERT INTO job_assignments (job_id, attempt, ecs_task_arn, ecs_cluster_arn, expires_at,
                                    storage_scheme, storage_uri, created_at, completed_at,
                                    outcome, vcpu, memory_gb)
       SELECT id, 1, 't', 'c', finished_at, 'LOCAL', 'file:///x', started_at, finished_at,
              'SUCCEEDED', 1 + id % 4, 2 + 2 * (id % 4)
       FROM jobs""",
    # A tenth of the jobs in 100 batches of their users, through their requests.
    """INSERT INTO job_batches (user_id, type, size)
       SELECT j.user_id, j.type, 0 FROM jobs j WHERE j.id % 10 = 0
       GROUP BY j.user_id, j.type ORDER BY min(j.id) LIMIT :batches""",
    """INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id,
                                 input_index)
       SELECT j.user_id, j.type, '{}', false, j.id, b.id,
              row_number() OVER (PARTITION BY b.id ORDER BY j.id)
       FROM jobs j JOIN job_batches b ON b.user_id = j.user_id AND b.type = j.type
       WHERE j.id % 10 = 0""",
    """UPDATE job_batches b SET size = (SELECT count(*) FROM job_requests q
                                        WHERE q.batch_id = b.id)""",
    # The rollup, as usage_attempts_ended adds each attempt when it ends (in one of 8
    # stripes); then the housekeeping's fold of the days before today.
    """INSERT INTO usage_hours (hour, user_id, type, batch_id, capacity, stripe, attempts,
                                run_seconds, vcpu_seconds, gb_seconds)
       SELECT date_trunc('hour', a.completed_at, 'UTC'), j.user_id, j.type,
              coalesce(q.batch_id, 0), a.capacity, a.id % 8, count(*), sum(r.run),
              sum(r.run * a.vcpu), sum(r.run * a.memory_gb)
       FROM job_assignments a JOIN jobs j ON j.id = a.job_id
       LEFT JOIN job_requests q ON q.job_id = j.id AND NOT q.cache_hit
       CROSS JOIN LATERAL (SELECT extract(epoch FROM a.completed_at - a.created_at) AS run) r
       GROUP BY 1, 2, 3, 4, 5, 6""",
    COMPACT,
    "ANALYZE",
]

Query = Callable[[Connection, random.Random], object]


def fill(engine: Engine, attempts: int) -> None:
    params = {"users": USERS, "attempts": attempts, "year": YEAR, "batches": BATCHES}
    with engine.begin() as conn:
        for statement in FILL:
            started = time.perf_counter()
            conn.execute(text(statement), params)
            print(f"  {' '.join(statement.split()[0:3])}: {time.perf_counter() - started:.1f} s")


def queries(engine: Engine) -> dict[str, Query]:
    with engine.connect() as conn:
        users = list(conn.execute(text("SELECT DISTINCT user_id FROM jobs")).scalars())
        batches = list(conn.execute(text("SELECT id FROM job_batches")).scalars())
        top = conn.execute(text("SELECT max(id) FROM jobs")).scalar_one()
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year = now - timedelta(days=365)
    test = default_registry().get("TEST")
    specs = {name: dataclasses.replace(test, name=name) for name in TYPES}
    cases: dict[str, Query] = {}
    for by in usage.BY:
        for period, since in (("month", month), ("year", year)):
            cases[f"by {by}, {period}, admin (everyone)"] = _report(by, since, now, None)
            cases[f"by {by}, {period}, one user"] = _report(by, since, now, users)
    cases["a job's attempts and cost"] = lambda c, r: usage.job_attempts(c, r.randint(1, top))
    cases["a batch's cost (1,000 jobs)"] = lambda c, r: usage.batch_usage(c, r.choice(batches))
    cases["a user's spending this month"] = lambda c, r: usage.spent(c, r.choice(users), month)
    cases["the estimate (100 recent)"] = lambda c, r: usage.estimate(
        c, specs[r.choice(TYPES)], 1000
    )
    return cases


def _report(by: str, since: datetime, until: datetime, users: list[int] | None) -> Query:
    """The report of everyone (``users`` None) or of one of ``users``."""

    def run(conn: Connection, rng: random.Random) -> object:
        user = None if users is None else rng.choice(users)
        return usage.report(conn, by, since, until, user)

    return run


def measure(engine: Engine, runs: int) -> list[tuple[str, float, float]]:
    rng = random.Random(28)
    rows = []
    for name, query in queries(engine).items():
        times = []
        with engine.connect() as conn:
            query(conn, rng)  # warm: the first run reads the pages in
            for _ in range(runs):
                started = time.perf_counter()
                query(conn, rng)
                times.append((time.perf_counter() - started) * 1000)
                conn.rollback()
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
        rows.append((name, statistics.median(times), p95))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with benchmark_database() as (url, _):
        engine = make_engine(url, pool_size=2, max_overflow=0)
        try:
            print(f"filling {args.attempts:,} attempts")
            fill(engine, args.attempts)
            rows = measure(engine, args.runs)
        finally:
            engine.dispose()
    print(
        f"\nusage queries at {args.attempts:,} attempts, {args.runs} runs each;"
        f" {machine()}, {load_average()}"
    )
    print_table(["query", "p50 ms", "p95 ms"], rows)
    worst = max(p95 for _, _, p95 in rows)
    print(f"\nworst p95: {worst:.1f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
