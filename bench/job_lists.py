"""Job list pages at 1,000,000 jobs: p50 and p95 of each filter and sort.

    .venv/bin/python bench/job_lists.py [--jobs 1000000] [--runs 40]

Fills a fresh database (tests/support/job_lists.py: 20 users, user 1 with 30% of the
jobs, 4 types, 5 statuses, names, tags, a batch per user and 50,000 jobs, 20,000
jobs the cache handed user 2), then times ``JobLists.page`` (the page of 100 and its
capped count, as the API runs them, without HTTP) ``--runs`` times per row, each run
with another user, type, status, batch, name or tag.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.measure import load_average
from bench.support import benchmark_database, machine, print_table
from shared.enums import JobStatus
from tests.support.job_lists import TYPES, fill
from webapi.store.engine import make_engine
from webapi.store.job_lists import JobFilters, JobLists, JobSort

Case = Callable[[random.Random], tuple[JobFilters, JobSort]]


def cases(users: dict[int, int], count: int) -> dict[str, Case]:
    now = datetime.now(UTC)
    heavy, reused = users[1], users[2]

    def user(r: random.Random) -> int:
        return users[r.randint(1, len(users))]

    def mine(**given: object) -> Case:
        return lambda r: (JobFilters(user_id=user(r), **given), JobSort())  # type: ignore[arg-type]

    return {
        "mine, newest first": mine(),
        "mine (30% of all jobs), newest first": lambda r: (JobFilters(user_id=heavy), JobSort()),
        "mine, 20,000 reused": lambda r: (JobFilters(user_id=reused), JobSort()),
        "mine, status FAILED": mine(statuses=(JobStatus.FAILED,)),
        "mine, status PENDING or IN_PROGRESS": mine(
            statuses=(JobStatus.PENDING, JobStatus.IN_PROGRESS)
        ),
        "mine, type": lambda r: (JobFilters(user_id=user(r), type=r.choice(TYPES)), JobSort()),
        "mine, batch": lambda r: _batch(r, users, count),
        "mine, name prefix": lambda r: (
            JobFilters(user_id=user(r), name=f"run-{r.randint(1, 499)}"),
            JobSort(),
        ),
        "mine, tag": lambda r: (
            JobFilters(user_id=user(r), tags={"site": f"s{2 * r.randint(0, 24)}"}),
            JobSort(),
        ),
        "mine, since a day ago": mine(since=now - timedelta(days=1)),
        "mine, until 20 days ago": mine(until=now - timedelta(days=20)),
        "mine, type + status + tag": lambda r: (
            JobFilters(
                user_id=user(r),
                type=r.choice(TYPES),
                statuses=(JobStatus.SUCCEEDED,),
                tags={"run": str(r.randint(0, 6))},
            ),
            JobSort(),
        ),
        "mine, sort name asc": lambda r: (JobFilters(user_id=user(r)), JobSort("name", False)),
        "mine, sort status": lambda r: (JobFilters(user_id=user(r)), JobSort("status")),
        "mine, sort type asc": lambda r: (JobFilters(user_id=user(r)), JobSort("type", False)),
        "mine, sort runtime": lambda r: (JobFilters(user_id=user(r)), JobSort("runtime")),
        "all users, newest first": lambda r: (JobFilters(user_id=None), JobSort()),
        "all users, status FAILED": lambda r: (
            JobFilters(user_id=None, statuses=(JobStatus.FAILED,)),
            JobSort(),
        ),
        "all users, type + tag": lambda r: (
            JobFilters(user_id=None, type=r.choice(TYPES), tags={"run": str(r.randint(0, 6))}),
            JobSort(),
        ),
        "all users, name prefix": lambda r: (
            JobFilters(user_id=None, name=f"run-{r.randint(1, 499)}"),
            JobSort(),
        ),
        "all users, sort runtime": lambda r: (JobFilters(user_id=None), JobSort("runtime")),
        "all users, sort name asc": lambda r: (JobFilters(user_id=None), JobSort("name", False)),
        "one user (admin), type": lambda r: (
            JobFilters(user_id=None, owner=user(r), type=r.choice(TYPES)),
            JobSort(),
        ),
    }


def _batch(r: random.Random, users: dict[int, int], count: int) -> tuple[JobFilters, JobSort]:
    user_id = users[r.randint(1, len(users))]
    block = r.randint(0, count // 50_000 - 1)
    return JobFilters(user_id=user_id, batch=block * 100 + user_id), JobSort()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with benchmark_database() as (url, _server):
        engine = make_engine(url, pool_size=2)
        started = time.perf_counter()
        users = fill(engine, args.jobs)
        print(f"filled {args.jobs:,} jobs in {time.perf_counter() - started:.0f} s", flush=True)
        lists = JobLists(engine)
        rows = []
        r = random.Random(26)
        for name, case in cases(users, args.jobs).items():
            first, later = [], []
            for _ in range(args.runs):
                filters, sort = case(r)
                t0 = time.perf_counter()
                page = lists.page(filters, sort, limit=100)
                first.append((time.perf_counter() - t0) * 1000)
                if page.next_cursor is not None:
                    t0 = time.perf_counter()
                    lists.page(filters, sort, limit=100, cursor=page.next_cursor)
                    later.append((time.perf_counter() - t0) * 1000)
            rows.append([name, *_stats(first), *(_stats(later) if later else ("-", "-"))])
        engine.dispose()
    print(
        f"\n{machine()}; {load_average()}; {args.jobs:,} jobs, "
        f"{args.runs} runs a row; a page of 100 with its count (ms)\n"
    )
    print_table(["list", "p50", "p95", "next page p50", "next page p95"], rows)


def _stats(times: list[float]) -> tuple[str, str]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.1f}", f"{p95:.1f}"


if __name__ == "__main__":
    main()
