"""The web API beside its physical limit: long-poll wake-up and submit/claim/complete.

    .venv/bin/python bench/api.py [--trials 50] [--seconds 10] [--clients 1 4]

1. Wake-up: a claimer waits in ``POST /api/jobs/claim`` (waitSeconds 10) on an
   empty queue; a job is created with ``POST /api/jobs``; the latency is the time
   from the create's answer to the claim's answer (negative when the claim answers
   first). The claim re-check is set to 30 s, so only the NOTIFY can wake it fast.
   The limit: the same through the queue layer, with a LISTEN connection that runs
   the claim as soon as the create's notification arrives.
2. Round trips: create, claim and complete one job per round, over HTTP (an
   analyst submits, a WORKER key claims and reports), through the queue layer in
   this process, and as the same SQL statements under pgbench.
3. Claim + result over HTTP at ``--drain-clients`` threads on a backlog (one job per
   claim, and ``maxJobs`` 10; then one request per job, each result carrying the next
   claim, and ten per request, their results batched and carrying the next claim of
   ten), beside pgbench on the same claim and complete statements; and
   ``POST /api/jobs`` latency at that many clients. ``--drain-only`` runs just this.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import select
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg2
from sqlalchemy import text

from bench import queue_layer as queue_bench
from bench.harness import ANALYST_EMAIL, Platform, running_platform
from bench.measure import load_average, percentile
from bench.round_trips import (
    BACKLOG_PER_CLIENT,
    CLAIM_BODY,
    analyst_client,
    backlog,
    complete,
    http_round_trips,
    next_id,
    ok,
    queue_round_trips,
    raw_round_trips,
    worker_client,
)
from bench.support import machine, print_table, run_threads
from shared.enums import JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store.engine import make_engine
from webapi.store.queue import Claimed, Queue, StorageTarget
from webapi.store.records import Claimant
from webapi.store.sql import fragments

API_ENV = {"SHOAL_CLAIM_RECHECK_SECONDS": "30"}


@dataclass
class ApiReport:
    wake_http: list[float]
    wake_raw: list[float]
    round_trips: dict[int, dict[str, float]] = field(default_factory=dict)
    drain: dict[str, float] = field(default_factory=dict)
    create_ms: list[float] = field(default_factory=list)


# -- wake-up -----------------------------------------------------------------
@dataclass
class _Answer:
    at: float = 0.0
    response: httpx.Response | None = None


def _wait_in_claim(worker: httpx.Client, answer: _Answer) -> None:
    answer.response = worker.post("/api/jobs/claim", json={**CLAIM_BODY, "waitSeconds": 10})
    answer.at = time.perf_counter()


def wake_http(platform: Platform, trials: int, park: float = 0.5) -> list[float]:
    """Seconds from the create's answer to the waiting claim's answer, per trial."""
    latencies = []
    with analyst_client(platform) as analyst, worker_client(platform) as worker:
        for _ in range(trials):
            answer = _Answer()
            waiter = threading.Thread(target=_wait_in_claim, args=(worker, answer))
            waiter.start()
            time.sleep(park)  # the claim is parked on the listener by now
            body = {"type": "TEST", "inputPayload": {"id": next_id()}}
            job_id = ok(analyst.post("/api/jobs", json=body)).json()["jobId"]
            created_at = time.perf_counter()
            waiter.join()
            assert answer.response is not None
            claimed = ok(answer.response).json()
            if claimed["job"]["id"] != job_id:
                raise RuntimeError("the waiting claim took another job")
            latencies.append(answer.at - created_at)
            complete(worker, claimed["assignment"]["id"])
    return latencies


def wake_raw(platform: Platform, user: int, trials: int) -> list[float]:
    """The same through the queue layer: LISTEN, and claim the moment a notification comes."""
    engine = make_engine(platform.database.url, pool_size=4, max_overflow=0)
    queue = Queue(engine, default_registry(), StorageTarget(StorageScheme.LOCAL, "file:///b"))
    claimant = Claimant("bench", "bench", user)
    listener = psycopg2.connect(platform.database.url)  # a libpq URI
    listener.autocommit = True
    latencies = []
    try:
        listener.cursor().execute(f"LISTEN {fragments.CHANNEL}")
        for _ in range(trials):
            done: dict[str, float] = {}
            waiter = threading.Thread(
                target=_claim_on_notify,
                args=(listener, lambda: queue.claim(["TEST"], claimant), done),
            )
            waiter.start()
            time.sleep(0.05)
            queue.create(user_id=user, job_type="TEST", payload={"id": next_id()})
            created_at = time.perf_counter()
            waiter.join()
            latencies.append(done["at"] - created_at)
            queue.complete(
                int(done["assignment"]), claimant, status=JobStatus.SUCCEEDED, result_payload={}
            )
    finally:
        listener.close()
        engine.dispose()
    return latencies


def _claim_on_notify(
    listener: Any, claim: Callable[[], Claimed | None], done: dict[str, float]
) -> None:
    """Wait for a new job's notification on ``listener``, then claim; the time goes to ``done``."""
    while True:
        select.select([listener], [], [], 10)
        listener.poll()
        events = [json.loads(n.payload) for n in listener.notifies]
        listener.notifies.clear()
        if any(event["status"] == "PENDING" for event in events):
            break
    claimed = claim()
    done["at"] = time.perf_counter()
    if claimed is None:
        raise RuntimeError("woken, but nothing to claim")
    done["assignment"] = claimed.assignment.id


# -- draining a backlog over HTTP ----------------------------------------------
def http_drain(platform: Platform, clients: int, seconds: float, max_jobs: int) -> float:
    """Jobs claimed and reported per second over HTTP, ``clients`` worker threads."""
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        body = {**CLAIM_BODY, "ecsTaskArn": f"drain-{index}", "waitSeconds": 0}
        if max_jobs > 1:
            body["maxJobs"] = max_jobs
        with worker_client(platform) as worker:
            while time.monotonic() < deadline:
                answer = ok(worker.post("/api/jobs/claim", json=body))
                if answer.status_code == 204:
                    return
                claims = answer.json()["claims"] if max_jobs > 1 else [answer.json()]
                for claim in claims:
                    complete(worker, claim["assignment"]["id"])
                done[index] += len(claims)

    took = run_threads(clients, work)
    return sum(done) / took


def http_drain_next(platform: Platform, clients: int, seconds: float, max_jobs: int) -> float:
    """Jobs reported per second over HTTP, ``clients`` worker threads, each result
    request carrying the next claim: one request per job (``max_jobs`` 1), or per
    ``max_jobs`` jobs, their results batched (``POST /api/jobs/assignments/results``)."""
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        claim = {**CLAIM_BODY, "ecsTaskArn": f"next-{index}", "maxJobs": max_jobs}
        with worker_client(platform) as worker:
            claims = _claims(ok(worker.post("/api/jobs/claim", json=claim)), max_jobs)
            while claims and time.monotonic() < deadline:
                if max_jobs == 1:
                    body: dict[str, Any] = {"status": "SUCCEEDED", "resultPayload": {}}
                    path = f"/api/jobs/assignments/{claims[0]['assignment']['id']}/result"
                else:
                    body = {"results": [_succeeded(c) for c in claims]}
                    path = "/api/jobs/assignments/results"
                answer = ok(worker.post(path, json={**body, "next": claim})).json()
                if any(one["status"] != 200 for one in answer.get("results", [])):
                    raise RuntimeError(f"a result was refused: {answer['results']}")
                done[index] += len(claims)
                claims = [] if answer["next"] is None else _claims_of(answer["next"], max_jobs)

    took = run_threads(clients, work)
    return sum(done) / took


def _claims(answer: httpx.Response, max_jobs: int) -> list[dict[str, Any]]:
    return [] if answer.status_code == 204 else _claims_of(answer.json(), max_jobs)


def _claims_of(answer: dict[str, Any], max_jobs: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = answer["claims"] if max_jobs > 1 else [answer]
    return found


def _succeeded(claim: dict[str, Any]) -> dict[str, Any]:
    return {"assignmentId": claim["assignment"]["id"], "status": "SUCCEEDED", "resultPayload": {}}


def create_latency(platform: Platform, clients: int, seconds: float) -> list[float]:
    """Milliseconds per ``POST /api/jobs`` with ``clients`` analysts submitting at once."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        with analyst_client(platform) as analyst:
            while time.monotonic() < deadline:
                body = {"type": "TEST", "inputPayload": {"id": next_id()}}
                started = time.perf_counter()
                ok(analyst.post("/api/jobs", json=body))
                latencies.append(1000 * (time.perf_counter() - started))

    run_threads(clients, work)
    return latencies


def run_drain(platform: Platform, user: int, clients: int, seconds: float, jobs: int) -> ApiReport:
    report = ApiReport(wake_http=[], wake_raw=[])
    for name, max_jobs in (("http", 1), ("http_batch", 10)):
        _fresh_backlog(platform, user, jobs)
        report.drain[name] = http_drain(platform, clients, seconds, max_jobs)
    for name, max_jobs in (("http_next", 1), ("http_next_batch", 10)):
        _fresh_backlog(platform, user, jobs)
        report.drain[name] = http_drain_next(platform, clients, seconds, max_jobs)
    _fresh_backlog(platform, user, jobs)
    done, took = queue_bench.run_pgbench(platform.database.url, user, clients, jobs // 2)
    report.drain["raw"] = done / took
    _empty_queue(platform)
    report.create_ms = create_latency(platform, clients, seconds)
    return report


def _empty_queue(platform: Platform) -> None:
    with platform.sql().begin() as conn:
        conn.execute(text("DELETE FROM jobs"))


def _fresh_backlog(platform: Platform, user: int, jobs: int) -> None:
    """``jobs`` pending jobs and nothing else: none of the last run's dead rows for this
    run to step over, and statistics that count the backlog."""
    _empty_queue(platform)
    with platform.sql().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM {', '.join(_QUEUE_TABLES)}"))
    backlog(platform, user, jobs)
    with platform.sql().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {', '.join(_QUEUE_TABLES)}"))


_QUEUE_TABLES = ("jobs", "job_assignments", "job_results", "job_loads", "job_load_stripes")


# -- the whole benchmark -------------------------------------------------------
def analyst_id(platform: Platform) -> int:
    with platform.sql().connect() as conn:
        found = conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": ANALYST_EMAIL})
        return int(found.scalar_one())


def run_api(
    platform: Platform,
    *,
    trials: int,
    seconds: float,
    clients: list[int],
    rounds: int,
    drain_clients: int = 16,
    drain_jobs: int = 20_000,
    drain_only: bool = False,
) -> ApiReport:
    user = analyst_id(platform)
    if drain_only:
        return run_drain(platform, user, drain_clients, seconds, drain_jobs)
    report = ApiReport(
        wake_http=wake_http(platform, trials), wake_raw=wake_raw(platform, user, trials)
    )
    for n in clients:
        backlog(platform, user, BACKLOG_PER_CLIENT * n)
        report.round_trips[n] = {
            "http": http_round_trips(platform, n, seconds),
            "queue": queue_round_trips(platform, user, n, seconds),
            "raw": raw_round_trips(platform, user, n, rounds),
        }
    drained = run_drain(platform, user, drain_clients, seconds, drain_jobs)
    report.drain, report.create_ms = drained.drain, drained.create_ms
    return report


def wake_rows(report: ApiReport) -> list[list[object]]:
    rows = []
    for name, values in (
        ("HTTP long-poll claim", report.wake_http),
        ("queue layer + LISTEN", report.wake_raw),
    ):
        ms = [1000 * v for v in values]
        rows.append([name, len(ms), f"{percentile(ms, 0.5):.1f}", f"{percentile(ms, 0.99):.1f}"])
    return rows


def print_report(report: ApiReport) -> None:
    print(f"web API benchmark; {machine()}, {load_average()}")
    if report.wake_http:
        print_wake_and_round_trips(report)
    if report.drain:
        print("draining a backlog: jobs claimed and reported per second (16 clients)")
        print_table(
            ["path", "jobs/s", "raw SQL (pgbench, same statements)", "ratio"], drain_rows(report)
        )
        ms = report.create_ms
        print(
            f"POST /api/jobs at 16 clients: p50 {percentile(ms, 0.5):.1f} ms, "
            f"p99 {percentile(ms, 0.99):.1f} ms ({len(ms)} requests)"
        )


def print_wake_and_round_trips(report: ApiReport) -> None:
    print("wake-up: create answered → waiting claim answered")
    print_table(["path", "trials", "median ms", "p99 ms"], wake_rows(report))
    http50, raw50 = percentile(report.wake_http, 0.5), percentile(report.wake_raw, 0.5)
    print(f"median ratio HTTP / queue layer: {http50 / raw50:.1f}x")
    print("create + claim + complete round trips per second")
    print_table(
        ["clients", "HTTP", "queue layer", "raw SQL (pgbench)", "HTTP / raw", "queue / raw"],
        [
            [
                n,
                r["http"],
                r["queue"],
                r["raw"],
                f"{r['http'] / r['raw']:.0%}",
                f"{r['queue'] / r['raw']:.0%}",
            ]
            for n, r in report.round_trips.items()
        ],
    )


def drain_rows(report: ApiReport) -> list[list[object]]:
    raw = report.drain.get("raw", float("nan"))
    rows: list[list[object]] = []
    for key, name in (
        ("http", "HTTP claim + result"),
        ("http_batch", "HTTP, maxJobs 10"),
        ("http_next", "HTTP, one request per job (result carries the next claim)"),
        ("http_next_batch", "HTTP, maxJobs 10, results batched (carry the next claim)"),
    ):
        if key in report.drain:
            rows.append([name, report.drain[key], raw, f"{report.drain[key] / raw:.0%}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=2000, help="pgbench round trips per run")
    parser.add_argument("--drain-only", action="store_true", help="only part 3")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="shoal-api-") as root,
        running_platform(Path(root), api_extra_env=API_ENV) as platform,
    ):
        report = run_api(
            platform,
            trials=args.trials,
            seconds=args.seconds,
            clients=args.clients,
            rounds=args.rounds,
            drain_only=args.drain_only,
        )
    print_report(report)


if __name__ == "__main__":
    main()
