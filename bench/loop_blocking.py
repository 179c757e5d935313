"""The web API's loops under heavy requests: do health and job reads stay fast?

    .venv/bin/python bench/loop_blocking.py [--seconds 30]

Against ``shoal webapi`` (gunicorn, two gevent processes, argon2 at its real cost), for
``--seconds``, all at once:

- 20 logins a second (``POST /api/auth/login``, each on its own schedule), of 20 users
  from 20 addresses;
- two senders of batches, each posting one after another a batch of 10,000 polygons of
  60 vertices (about 12 MB) whose last input is bad (so each is checked in full and
  refused with a 400, and the database stays as it was);
- 5 views a second of the job page of a POLYGON_STATS job of 25,000 vertices in the
  dashboard (each on its own schedule);
- probes: ``GET /api/health`` and ``GET /api/jobs/:id`` (a small job) 10 times a second
  each. A probe's latency runs from when it was due, so a stalled process is not
  measured by the few probes that got through.

Prints per route: requests, errors (unexpected status or no answer), latency
percentiles; then the workers gunicorn killed for their timeout, the longest event-loop
block (``shoal_loop_block_seconds_max``, where the code exports it), the largest memory
of a web API process (its forked children included) and the load average. Exit code 1
when a probe's p99 is over 100 ms or gunicorn killed a worker.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import functools
import itertools
import json
import math
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from bench.harness import ANALYST_EMAIL, Platform, environment_ready, running_platform
from bench.measure import ROUTE_HEADERS, RouteStats, load_average, percentile
from bench.round_trips import analyst_client, ok
from bench.support import machine, print_table
from tests.support.metrics import sample

PROBE_BUDGET_SECONDS = 0.1
PROBES_PER_SECOND = 10
BATCH_INPUTS = 10_000
BATCH_VERTICES = 60
PAGE_VERTICES = 25_000
# argon2 at its real cost; the login limits out of the way (logins in flight count as
# failures until they succeed, and they all come from one address here).
BENCH_ENV = {
    "SHOAL_PASSWORD_HASH_FAST": "0",
    "SHOAL_LOGIN_MAX_FAILURES": "1000",
    "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
    "SHOAL_TRUSTED_PROXIES": "1",
}
# Logins come from this many users at as many addresses (X-Forwarded-For): all from one
# would queue on that user's and that address's row of the login limits.
LOGIN_USERS = 20
LOGIN_PASSWORD = "bench-login-password"


@dataclass
class LoopReport:
    seconds: float
    routes: dict[str, RouteStats] = field(default_factory=dict)
    worker_timeouts: int = 0
    longest_block: float | None = None
    largest_rss: int = 0  # bytes, of one web API process or forked child
    load: list[str] = field(default_factory=list)

    def route(self, name: str) -> RouteStats:
        return self.routes.setdefault(name, RouteStats())

    def probes_ok(self) -> bool:
        probes = [self.route("GET /api/health"), self.route("GET /api/jobs/:id")]
        return all(percentile(stats.latencies, 0.99) <= PROBE_BUDGET_SECONDS for stats in probes)


def _ring(vertices: int, seed: int) -> list[list[float]]:
    points = [
        [
            round(150 + 0.5 * math.cos(2 * math.pi * i / vertices) + seed * 1e-4, 4),
            round(-30 + 0.5 * math.sin(2 * math.pi * i / vertices), 4),
        ]
        for i in range(vertices)
    ]
    return [*points, points[0]]


def _polygon(vertices: int, seed: int = 0) -> dict[str, object]:
    return {"polygon": {"type": "Polygon", "coordinates": [_ring(vertices, seed)]}}


def _bad_batch() -> bytes:
    inputs = [_polygon(BATCH_VERTICES, seed) for seed in range(BATCH_INPUTS - 1)]
    inputs.append({"polygon": {"type": "Point", "coordinates": [0, 0]}})
    return json.dumps({"type": "POLYGON_STATS", "inputs": inputs}).encode()


def _log_in_to_the_dashboard(browser: httpx.Client, platform: Platform) -> None:
    """The analyst's dashboard session in ``browser`` (the login form, as a browser posts it)."""
    [token] = re.findall(r'name="login_token" value="([^"]+)"', ok(browser.get("/login")).text)
    form = {"email": ANALYST_EMAIL, "password": platform.analyst_password, "login_token": token}
    if browser.post("/login", data=form).status_code != 303:
        raise RuntimeError("the dashboard login failed")


Send = Callable[[], httpx.Response]


def _login_users(platform: Platform) -> list[dict[str, Any]]:
    """LOGIN_USERS analysts made through the API; the login request of each."""
    requests = []
    with platform.admin_client() as admin:
        for n in range(LOGIN_USERS):
            email = f"bench-login-{n}@example.org"
            user = {"email": email, "password": LOGIN_PASSWORD, "roles": ["ANALYST"]}
            admin.request("POST", "/api/users", json=user)
            address = {"X-Forwarded-For": f"10.0.{n}.1"}
            requests.append(
                {"json": {"email": email, "password": LOGIN_PASSWORD}, "headers": address}
            )
    return requests


class Load:
    """Every kind of traffic at once until ``deadline``; what each route saw into ``report``.

    Each route has its own client and threads, so one route's backlog never queues another's
    requests in this process.
    """

    def __init__(self, platform: Platform, report: LoopReport, seconds: float) -> None:
        self.platform = platform
        self.report = report
        self.deadline = time.perf_counter() + seconds
        self.lock = threading.Lock()

    def client(self, **kwargs: Any) -> httpx.Client:
        unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        return httpx.Client(base_url=self.platform.url, timeout=300, limits=unlimited, **kwargs)

    def scheduled(self, per_second: float, route: str, send: Send, status: int) -> None:
        """Send every 1/per_second s, whether or not the last one was answered."""
        due = time.perf_counter()
        with ThreadPoolExecutor(512) as pool:
            while per_second > 0 and due < self.deadline:
                time.sleep(max(0.0, due - time.perf_counter()))
                pool.submit(self._call, route, due, send, status)
                due += 1 / per_second

    def back_to_back(self, route: str, send: Send, status: int) -> None:
        while time.perf_counter() < self.deadline:
            self._call(route, time.perf_counter(), send, status)

    def _call(self, route: str, due: float, send: Send, status: int) -> None:
        try:
            answer = send()
            error = None if answer.status_code == status else f"HTTP {answer.status_code}"
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        with self.lock:
            self.report.route(route).record(time.perf_counter() - due, error)


@dataclass(frozen=True)
class Mix:
    """How much of each kind of traffic (the defaults are the scenario above)."""

    logins_per_second: float = 20
    batch_senders: int = 2
    views_per_second: float = 5


def run_loop_blocking(platform: Platform, seconds: float, mix: Mix = Mix()) -> LoopReport:
    report = LoopReport(seconds)
    logins = itertools.cycle(_login_users(platform))
    with analyst_client(platform) as api:
        small = {"type": "TEST", "inputPayload": {"id": 1}}
        small_id = ok(api.post("/api/jobs", json=small)).json()["jobId"]
        big = {"type": "POLYGON_STATS", "inputPayload": _polygon(PAGE_VERTICES)}
        page = f"/jobs/{ok(api.post('/api/jobs', json=big)).json()['jobId']}"
        bearer = {"Authorization": api.headers["Authorization"]}
    body, headers = _bad_batch(), {"Content-Type": "application/json", **bearer}
    load = Load(platform, report, seconds)
    clients = [load.client() for _ in range(4)] + [load.client(headers=bearer)]
    login, health, batch, browser, read = clients
    _log_in_to_the_dashboard(browser, platform)
    traffic: list[Callable[[], None]] = [
        lambda: load.scheduled(
            mix.logins_per_second,
            "POST /api/auth/login",
            lambda: login.post("/api/auth/login", **next(logins)),
            200,
        ),
        lambda: load.scheduled(
            PROBES_PER_SECOND, "GET /api/health", lambda: health.get("/api/health"), 200
        ),
        lambda: load.scheduled(
            PROBES_PER_SECOND, "GET /api/jobs/:id", lambda: read.get(f"/api/jobs/{small_id}"), 200
        ),
        lambda: _watch_memory(platform, report, load.deadline),
    ]
    for _ in range(mix.batch_senders):
        send = functools.partial(batch.post, "/api/jobs/batch", content=body, headers=headers)
        traffic.append(functools.partial(load.back_to_back, "POST /api/jobs/batch", send, 400))
    view = functools.partial(browser.get, page)
    traffic.append(
        functools.partial(
            load.scheduled, mix.views_per_second, "GET /jobs/:id (dashboard)", view, 200
        )
    )
    report.load.append(load_average())
    drivers = [threading.Thread(target=run) for run in traffic]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    report.load.append(load_average())
    for client in clients:
        client.close()
    with contextlib.suppress(httpx.HTTPError):  # a process still stalled answers nothing
        metrics = httpx.get(f"{platform.url}/metrics", timeout=60).text
        report.longest_block = sample(metrics, "shoal_loop_block_seconds_max")
    report.worker_timeouts = sum(
        path.read_text(errors="replace").count("WORKER TIMEOUT") for path in platform.api.log_paths
    )
    return report


def _watch_memory(platform: Platform, report: LoopReport, deadline: float) -> None:
    """The largest resident memory of one process under gunicorn's master, each 0.2 s."""
    assert platform.api.process is not None
    master = psutil.Process(platform.api.process.pid)
    while time.perf_counter() < deadline:
        for process in master.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # a child that just exited
                report.largest_rss = max(report.largest_rss, process.memory_info().rss)
        time.sleep(0.2)


def print_report(report: LoopReport) -> None:
    rows = [stats.row(route) for route, stats in sorted(report.routes.items())]
    print_table(ROUTE_HEADERS, rows)
    for route, stats in sorted(report.routes.items()):
        if stats.error_examples:
            print(f"{route}: {', '.join(stats.error_examples)}")
    block = (
        "n/a (not exported, or no answer)"
        if report.longest_block is None
        else f"{report.longest_block * 1000:.0f} ms"
    )
    print(
        f"\ngunicorn workers killed for their timeout: {report.worker_timeouts}; "
        f"longest event-loop block: {block}; "
        f"largest web API process: {report.largest_rss / 2**20:.0f} MiB; "
        f"{' → '.join(report.load)} (start → end)"
    )
    verdict = "met" if report.probes_ok() and not report.worker_timeouts else "NOT met"
    print(
        f"health and job reads p99 <= {PROBE_BUDGET_SECONDS * 1000:.0f} ms, "
        f"no worker killed: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--logins-per-second", type=float, default=Mix.logins_per_second)
    parser.add_argument("--batch-senders", type=int, default=Mix.batch_senders)
    parser.add_argument("--views-per-second", type=float, default=Mix.views_per_second)
    args = parser.parse_args()
    mix = Mix(args.logins_per_second, args.batch_senders, args.views_per_second)
    environment_ready()
    with (
        tempfile.TemporaryDirectory(prefix="shoal-bench-loop-") as tmp,
        running_platform(Path(tmp), api_workers=2, api_extra_env=BENCH_ENV) as platform,
    ):
        report = run_loop_blocking(platform, args.seconds, mix)
    print(f"machine: {machine()}; {args.seconds:.0f} s of load\n")
    print_report(report)
    sys.exit(0 if report.probes_ok() and not report.worker_timeouts else 1)


if __name__ == "__main__":
    main()
