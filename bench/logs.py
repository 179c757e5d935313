"""The cost of job logs: 10,000 lines per job on the job's run time, and on the web API.

    .venv/bin/python bench/logs.py [--jobs 8] [--lines 10000] [--seconds 10] [--clients 4]

1. Run time: one ``shoal worker`` (concurrency 1, everything captured) runs LOGBENCH jobs
   one after another against ``shoal webapi`` (two processes): ``--jobs`` that write
   nothing, then as many that ``print`` ``--lines`` lines of about 100 bytes, then as
   many that log them through ``ctx.logger``. Per kind, medians of the handler's own time
   (measured in the handler) and of the job's time from claim to result (``started_at``
   → ``finished_at``: the flush of the last lines is in it); the web API's log requests
   (from its /metrics: each stores one row, a batch) and their time; rows, message bytes
   and row text kept in ``job_log_chunks`` (the API keeps 1 MiB per attempt).
2. Throughput of ``POST /api/jobs/assignments/:id/logs``: ``--clients`` threads, each on
   its own live assignment, post batches of 100 such lines for ``--seconds``;
   requests/s, lines/s and latency.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from bench.harness import Platform, environment_ready, running_platform
from bench.measure import load_average, percentile
from bench.round_trips import CLAIM_BODY, ok, worker_client
from bench.support import print_table, run_threads
from tests.support.job_package import install_job_package

KINDS = ("nothing", "print", "logging")
LOG_ROUTE = "/api/jobs/assignments/<int:assignment_id>/logs"
LOG_TABLE = "job_log_chunks"
LINE = "x" * 90
OVERRIDES = {
    "TEST": {"leaseSeconds": 600, "maxAttempts": 1},
    "LOGBENCH": {"leaseSeconds": 30, "maxAttempts": 1, "cacheResults": False},
}

TYPES = """
from marshmallow import Schema, fields

from shared.jobtypes import JobTypeSpec


class LogBenchInput(Schema):
    mode = fields.String(required=True)
    lines = fields.Integer(required=True)
    run = fields.Integer(required=True)


def job_types():
    return [JobTypeSpec(name="LOGBENCH", input_schema=LogBenchInput, result_schema=Schema)]
"""

HANDLERS = f"""
import time


def register(registry):
    @registry.handler("LOGBENCH")
    def logbench(ctx):
        mode, lines = ctx.input["mode"], ctx.input["lines"]
        started = time.perf_counter()
        if mode == "print":
            for n in range(lines):
                print("line", n, "{LINE}")
        elif mode == "logging":
            for n in range(lines):
                ctx.logger.info("line %d %s", n, "{LINE}")
        return {{"_seconds": time.perf_counter() - started}}
"""


@dataclass
class KindResult:
    handler_seconds: list[float] = field(default_factory=list)
    job_seconds: list[float] = field(default_factory=list)
    requests: float = 0.0
    request_seconds: float = 0.0
    rows: float = 0.0
    stored_bytes: int = 0
    row_bytes: int = 0


def log_requests(platform: Platform) -> tuple[float, float]:
    """(count, seconds) of the log route's answered requests so far, from /metrics."""
    body = httpx.get(f"{platform.url}/metrics", timeout=30).text
    totals = {"count": 0.0, "sum": 0.0}
    pattern = re.compile(r"^shoal_http_request_duration_seconds_(count|sum)\{(.*)\} (\S+)$")
    for row in body.splitlines():
        match = pattern.match(row)
        if match and f'route="{LOG_ROUTE}"' in match.group(2):
            totals[match.group(1)] += float(match.group(3))
    return totals["count"], totals["sum"]


def stored(platform: Platform, job_ids: list[int]) -> tuple[int, int, int]:
    """(rows, message bytes, bytes of the rows' text column) stored for these jobs."""
    query = text(
        "SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(octet_length(lines)), 0) "
        f"FROM {LOG_TABLE} WHERE job_id = ANY(:ids)"
    )
    with platform.sql().connect() as conn:
        rows, messages, row_text = conn.execute(query, {"ids": job_ids}).one()
    return int(rows), int(messages), int(row_text)


def _at(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_one(platform: Platform, mode: str, lines: int, run: int) -> tuple[float, float, int]:
    """(handler seconds, job seconds, job id) of one job, waited for."""
    with platform.admin_client() as client:
        payload = {"mode": mode, "lines": lines, "run": run}
        job_id = int(client.submit_job("LOGBENCH", payload)["jobId"])
        deadline = time.monotonic() + 300
        while (job := client.get_job(job_id))["status"] not in ("SUCCEEDED", "FAILED"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} did not finish")
            time.sleep(0.05)
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error_message')}")
    [assignment] = job["assignments"]
    handler = float((assignment["result"]["metadata"] or {})["_seconds"])
    return handler, (_at(job["finished_at"]) - _at(job["started_at"])).total_seconds(), job_id


def run_times(platform: Platform, jobs: int, lines: int) -> dict[str, KindResult]:
    results: dict[str, KindResult] = {}
    run = 0
    run_one(platform, "print", 10, run)  # warm-up: imports, connections
    for kind in KINDS:
        result = results[kind] = KindResult()
        requests, seconds = log_requests(platform)
        job_ids = []
        for _ in range(jobs):
            run += 1
            handler, job, job_id = run_one(platform, kind, lines, run)
            result.handler_seconds.append(handler)
            result.job_seconds.append(job)
            job_ids.append(job_id)
        after_requests, after_seconds = log_requests(platform)
        result.requests = (after_requests - requests) / jobs
        result.request_seconds = after_seconds - seconds
        rows, messages, row_text = stored(platform, job_ids)
        result.rows, result.stored_bytes, result.row_bytes = (
            rows / jobs,
            messages // jobs,
            row_text // jobs,
        )
    return results


def post_throughput(platform: Platform, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads post 100-line batches to their own assignment for ``seconds``."""
    with platform.admin_client() as client:
        for n in range(clients):
            client.submit_job("TEST", {"id": 10_000 + n, "durationSeconds": 600})
    latencies: list[list[float]] = [[] for _ in range(clients)]
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        with worker_client(platform) as http:
            claimed = ok(http.post("/api/jobs/claim", json={**CLAIM_BODY, "waitSeconds": 5}))
            assignment = claimed.json()["assignment"]["id"]
            seq = 0
            while time.monotonic() < deadline:
                lines = [
                    {
                        "seq": seq + k,
                        "time": datetime.now(UTC).isoformat(),
                        "level": "INFO",
                        "stream": "stdout",
                        "message": f"line {seq + k} {LINE}",
                    }
                    for k in range(100)
                ]
                seq += 100
                started = time.perf_counter()
                path = f"/api/jobs/assignments/{assignment}/logs"
                ok(http.post(path, json={"lines": lines}))
                latencies[index].append(time.perf_counter() - started)

    took = run_threads(clients, run)
    every = [value for part in latencies for value in part]
    return {
        "rps": len(every) / took,
        "lines": 100 * len(every) / took,
        "p50_ms": percentile(every, 0.5) * 1e3,
        "p99_ms": percentile(every, 0.99) * 1e3,
    }


@dataclass
class LogsReport:
    kinds: dict[str, KindResult]
    posts: dict[str, float]
    jobs: int
    lines: int
    clients: int
    seconds: float


def run_logs(
    root: Path, jobs: int = 8, lines: int = 10_000, clients: int = 4, seconds: float = 10.0
) -> LogsReport:
    """Both measures on a fresh platform in ``root``."""
    site = str(install_job_package(root / "site", "logbench", TYPES, HANDLERS))
    with running_platform(
        root / "platform",
        job_overrides=OVERRIDES,
        api_extra_env={"PYTHONPATH": site},
        worker_env={"PYTHONPATH": site, "SHOAL_JOB_TYPES": "LOGBENCH"},
    ) as platform:
        platform.start_worker()
        kinds = run_times(platform, jobs, lines)
        posts = post_throughput(platform, clients, seconds)
    return LogsReport(kinds, posts, jobs, lines, clients, seconds)


HEADERS = [
    "per job, the handler writes",
    "handler ms",
    "claim → result ms",
    "vs nothing",
    "log requests",
    "ms per request",
    "rows stored",
    "KiB stored (messages / rows)",
]


def kind_rows(report: LogsReport) -> list[list[Any]]:
    base = statistics.median(report.kinds["nothing"].job_seconds)
    rows: list[list[Any]] = []
    for kind, r in report.kinds.items():
        job = statistics.median(r.job_seconds)
        per_request = 1e3 * r.request_seconds / max(r.requests * report.jobs, 1)
        what = kind if kind == "nothing" else f"{report.lines} lines by {kind}"
        rows.append(
            [
                what,
                f"{1e3 * statistics.median(r.handler_seconds):.1f}",
                f"{1e3 * job:.1f}",
                f"{1e3 * (job - base):+.1f}",
                f"{r.requests:.1f}",
                f"{per_request:.1f}",
                f"{r.rows:.1f}",
                f"{r.stored_bytes / 1024:.0f} / {r.row_bytes / 1024:.0f}",
            ]
        )
    return rows


def posts_line(report: LogsReport) -> str:
    posts = report.posts
    return (
        f"POST .../logs, {report.clients} clients, 100 lines per request, "
        f"{report.seconds:.0f} s: {posts['rps']:.0f} requests/s, {posts['lines']:.0f} lines/s, "
        f"p50 {posts['p50_ms']:.1f} ms, p99 {posts['p99_ms']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    environment_ready()
    with tempfile.TemporaryDirectory(prefix="shoal-bench-logs-") as tmp:
        report = run_logs(Path(tmp), args.jobs, args.lines, args.clients, args.seconds)
    print(f"- {load_average()}; {report.jobs} jobs per kind, lines of ~100 bytes\n")
    print_table(HEADERS, kind_rows(report))
    print("\n" + posts_line(report))


if __name__ == "__main__":
    main()
