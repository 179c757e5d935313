"""The load test: concurrent researchers on the real web API while real workers drain.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 16] [--workers 4]

Each client logs in as an ANALYST and loops: submit a TEST job (0 s), read one of
its jobs, list its newest 20, and every fifth round follow a finished job's event
stream to its end. Every answer that is not 2xx/3xx and every exception counts as
an error; the error rate must be 0 (exit code 1 otherwise). Prints p50/p95/p99
per route, requests/s, and jobs submitted and completed per second (completions
read from the database, in the same window).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import multiprocessing
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx
from sqlalchemy import text

from bench.harness import ANALYST_EMAIL, Platform, running_platform
from bench.measure import ROUTE_HEADERS, RouteStats, load_average, merge_all
from bench.support import machine, print_table

ROUTES = (
    "POST /api/jobs",
    "GET /api/jobs/:id",
    "GET /api/jobs?limit=20",
    "GET /api/jobs/:id/events",
)
EVENTS_EVERY = 5
LOAD_OVERRIDES = {"TEST": {"leaseSeconds": 30, "maxAttempts": 3}}


@dataclass
class LoadReport:
    seconds: float
    clients: int
    workers: int
    routes: dict[str, RouteStats]
    submitted: int
    completed: int
    backlog: int
    internal_errors: int

    @property
    def requests(self) -> int:
        return sum(stats.count for stats in self.routes.values())

    @property
    def errors(self) -> int:
        return sum(stats.errors for stats in self.routes.values())

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def _timed(stats: RouteStats, send: Callable[[], httpx.Response]) -> httpx.Response | None:
    """Send one request; its latency and any failure go to ``stats``."""
    started = time.perf_counter()
    try:
        response = send()
    except httpx.HTTPError as error:
        stats.record(time.perf_counter() - started, f"{type(error).__name__}: {error}")
        return None
    failed = None if response.status_code < 400 else f"HTTP {response.status_code}"
    stats.record(time.perf_counter() - started, failed)
    return None if failed else response


def _follow(http: httpx.Client, job_id: int) -> httpx.Response:
    """Read a job's event stream to its end (a finished job's ends after one event)."""
    with http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        for _ in response.iter_lines():
            pass
        return response


def client_loop(
    url: str, token: str, deadline: float, ids: Iterator[int], seed: int
) -> dict[str, RouteStats]:
    """One researcher, until the deadline."""
    stats = {route: RouteStats() for route in ROUTES}
    rng = random.Random(seed)
    mine: list[int] = []
    finished: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for round_ in itertools.count(1):
            if time.monotonic() >= deadline:
                break
            body = {"type": "TEST", "inputPayload": {"id": next(ids)}}
            created = _timed(stats[ROUTES[0]], partial(http.post, "/api/jobs", json=body))
            if created is not None:
                mine.append(created.json()["jobId"])
            if mine:
                job_id = rng.choice(mine)
                read = _timed(stats[ROUTES[1]], partial(http.get, f"/api/jobs/{job_id}"))
                if read is not None and read.json()["job"]["status"] == "SUCCEEDED":
                    finished.append(job_id)
            _timed(stats[ROUTES[2]], partial(http.get, "/api/jobs", params={"limit": 20}))
            if finished and round_ % EVENTS_EVERY == 0:
                done = rng.choice(finished)
                _timed(stats[ROUTES[3]], partial(_follow, http, done))
    return stats


def client_process(
    url: str, password: str, threads: int, seconds: float, first_id: int
) -> tuple[float, float, dict[str, RouteStats]]:
    """``threads`` researchers in one process (sharing one login), for ``seconds``.

    Returns when they started and ended (epoch seconds) and what they saw.
    """
    answer = httpx.post(
        f"{url}/api/auth/login", json={"email": ANALYST_EMAIL, "password": password}, timeout=30
    )
    answer.raise_for_status()
    token = answer.json()["token"]
    started = time.time()
    deadline = time.monotonic() + seconds
    results: list[dict[str, RouteStats]] = [{} for _ in range(threads)]

    def run(index: int) -> None:
        ids = itertools.count(first_id + index * 10_000_000)
        results[index] = client_loop(url, token, deadline, ids, first_id + index)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return started, time.time(), merge_all(results)


def _completed_between(platform: Platform, start: datetime, end: datetime) -> tuple[int, int]:
    """Jobs that SUCCEEDED in the window, and jobs still waiting at its end."""
    with platform.sql().connect() as conn:
        completed = conn.execute(
            text(
                "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED' "
                "AND finished_at BETWEEN :start AND :end"
            ),
            {"start": start, "end": end},
        ).scalar_one()
        backlog = conn.execute(
            text("SELECT count(*) FROM jobs WHERE status IN ('PENDING', 'IN_PROGRESS')")
        ).scalar_one()
    return int(completed), int(backlog)


def run_load(
    platform: Platform, *, seconds: float, clients: int, workers: int, processes: int
) -> LoadReport:
    """Start the workers, run the clients for ``seconds``, and count."""
    for _ in range(workers):
        platform.start_worker()
    processes = max(1, min(processes, clients))
    per_process = [clients // processes + (i < clients % processes) for i in range(processes)]
    args = [
        (platform.url, platform.analyst_password, n, seconds, (i + 1) * 100_000_000)
        for i, n in enumerate(per_process)
    ]
    # Forked before this process opens a database connection, which a child would share.
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.starmap(client_process, args)
    # From the first client's start to the last one's end (one clock: the same machine).
    start = datetime.fromtimestamp(min(part[0] for part in parts), UTC)
    end = datetime.fromtimestamp(max(part[1] for part in parts), UTC)
    completed, backlog = _completed_between(platform, start, end)
    routes = merge_all(part[2] for part in parts)
    return LoadReport(
        seconds=(end - start).total_seconds(),
        clients=clients,
        workers=workers,
        routes=routes,
        submitted=routes[ROUTES[0]].count - routes[ROUTES[0]].errors,
        completed=completed,
        backlog=backlog,
        internal_errors=platform.api.internal_errors(),
    )


def print_report(report: LoadReport) -> None:
    print(
        f"load: {report.clients} clients, {report.workers} workers, {report.seconds:.0f} s; "
        f"{machine()}, {load_average()}"
    )
    print_table(ROUTE_HEADERS, [stats.row(route) for route, stats in report.routes.items()])
    seconds = report.seconds
    print_table(
        ["requests/s", "error rate", "jobs submitted/s", "jobs completed/s", "backlog at end"],
        [
            [
                report.requests / seconds,
                f"{report.error_rate:.2%} ({report.errors} of {report.requests})",
                report.submitted / seconds,
                report.completed / seconds,
                report.backlog,
            ]
        ],
    )
    for route, stats in report.routes.items():
        for example in stats.error_examples:
            print(f"  error on {route}: {example}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="shoal-load-") as root,
        running_platform(Path(root), job_overrides=LOAD_OVERRIDES) as platform,
    ):
        report = run_load(
            platform,
            seconds=args.seconds,
            clients=args.clients,
            workers=args.workers,
            processes=args.processes,
        )
    print_report(report)
    sys.exit(1 if report.errors or report.internal_errors else 0)


if __name__ == "__main__":
    main()
