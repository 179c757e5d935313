"""Every benchmark in one run, and one table with the raw-SQL reference beside each figure.

    bench/run_all [--full] [--chaos-jobs 500] [--save]

Runs, each on its own fresh platform: the queue benchmark (bench/queue_layer.py), the
web API benchmark (bench/api.py), the load test (bench/load.py; 20 s, or the full
60 s with ``--full``), the chaos run (bench/chaos.py) and the fleet chaos run through
the real manager (bench/chaos_fleet.py, its long form), the cost of job logs
(bench/logs.py: 10,000 lines per job on its run time and on the API) and batch
creation (bench/batches.py: 5,000 and 10,000 inputs in one request). The reference for every
throughput is the same SQL under pgbench on the same kind of server in the same
run; for the wake-up, the queue layer on a LISTEN connection. ``--save`` writes
the table to bench/RESULTS.md. Exit code 1 if the load test saw an error or a
chaos run broke an invariant.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import io
import shlex
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import dataclass, field

from bench import queue_layer as queue_bench
from bench.api import API_ENV, ApiReport, run_api
from bench.batches import BatchReport, run_batches
from bench.chaos import ChaosPlan, ChaosReport, chaos_platform, run_chaos
from bench.chaos_fleet import FleetChaosPlan, FleetChaosReport, run_fleet_chaos
from bench.harness import running_platform
from bench.load import LOAD_OVERRIDES, LoadReport, run_load
from bench.logs import LogsReport, kind_rows, posts_line, run_logs
from bench.measure import load_average, percentile
from bench.support import benchmark_database, machine, print_table

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADERS = ["measure", "shoal", "reference (same run)", "shoal / reference"]


@dataclass
class Results:
    queue: list[dict[str, object]] = field(default_factory=list)
    api: ApiReport | None = None
    load: LoadReport | None = None
    chaos: ChaosReport | None = None
    fleet_chaos: FleetChaosReport | None = None
    logs: LogsReport | None = None
    batches: BatchReport | None = None
    load_average: list[str] = field(default_factory=list)


def _stage(name: str) -> None:
    print(f"== {time.strftime('%H:%M:%S')} {name} ({load_average()})", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        root = Path(tmp)
        _stage("queue benchmark")
        with benchmark_database() as (url, _server):
            results.queue = queue_bench.measure(url, args.queue_jobs, [1, 4, 16])
        _stage("web API benchmark")
        with running_platform(root / "api", api_extra_env=API_ENV) as platform:
            results.api = run_api(platform, trials=50, seconds=10, clients=[1, 4], rounds=2000)
        _stage("load test")
        with running_platform(root / "load", job_overrides=LOAD_OVERRIDES) as platform:
            seconds = 60.0 if args.full else 20.0
            results.load = run_load(platform, seconds=seconds, clients=16, workers=4, processes=4)
        _stage("chaos run")
        plan = ChaosPlan(jobs=args.chaos_jobs)
        with chaos_platform(root / "chaos", plan) as platform:
            results.chaos = run_chaos(platform, plan)
        _stage("fleet chaos run (the real manager)")
        results.fleet_chaos = run_fleet_chaos(root / "fleet-chaos", FleetChaosPlan())
        _stage("job logs")
        results.logs = run_logs(root / "logs")
        _stage("batch submit")
        with running_platform(root / "batches") as platform:
            results.batches = run_batches(platform, sizes=[5000, 10000], trials=3)
    return results


def _ratio(ours: float, reference: float) -> str:
    return f"{ours / reference:.0%}" if reference else "-"


def _row(
    measure: str, ours: object, reference: float | None = None, ratio: str = ""
) -> list[object]:
    """One line of the table; a throughput's ratio is computed when not given."""
    if reference is None:
        return [measure, ours, "", ""]
    if not ratio and isinstance(ours, float):
        ratio = _ratio(ours, reference)
    return [measure, ours, reference, ratio]


def queue_rows(results: Results) -> list[list[object]]:
    rows = []
    for r in results.queue:
        raw = float(r["raw"])  # type: ignore[arg-type]
        for key, how in (("queue", ""), ("batched", ", 10 per claim")):
            rows.append(
                _row(
                    f"claim + complete, queue layer{how}, {r['connections']} conn. (jobs/s)",
                    float(r[key]),  # type: ignore[arg-type]
                    raw,
                )
            )
    return rows


def api_rows(report: ApiReport) -> list[list[object]]:
    rows = []
    for name, fraction in (("median", 0.5), ("p99", 0.99)):
        ours = 1000 * percentile(report.wake_http, fraction)
        ref = 1000 * percentile(report.wake_raw, fraction)
        measure = f"long-poll wake-up, {name} (ms; reference: queue layer + LISTEN)"
        rows.append(_row(measure, ours, ref, f"{ours / ref:.1f}x"))
    for n, r in report.round_trips.items():
        rows.append(
            _row(f"create + claim + complete over HTTP, {n} client(s) (/s)", r["http"], r["raw"])
        )
        rows.append(
            _row(f"create + claim + complete, queue layer, {n} conn. (/s)", r["queue"], r["raw"])
        )
    raw = report.drain.get("raw")
    for key, how in (("http", "1 job per claim"), ("http_batch", "maxJobs 10")):
        if key in report.drain:
            measure = f"claim + result over HTTP, 16 clients, {how} (jobs/s)"
            rows.append(_row(measure, report.drain[key], raw))
    if report.create_ms:
        ms = report.create_ms
        rows.append(
            _row(
                "POST /api/jobs at 16 clients, p50 / p99 ms",
                f"{percentile(ms, 0.5):.1f} / {percentile(ms, 0.99):.1f}",
            )
        )
    return rows


def load_rows(report: LoadReport, results: Results) -> list[list[object]]:
    seconds = report.seconds
    rows = [
        _row(
            f"load: requests/s ({report.clients} clients, {seconds:.0f} s)",
            report.requests / seconds,
        ),
        _row("load: error rate", f"{report.error_rate:.2%} of {report.requests}"),
    ]
    for route, stats in report.routes.items():
        _, count, _, p50, p95, p99, _ = stats.row(route)
        rows.append(
            _row(f"load: {route} p50 / p95 / p99 ms ({count} requests)", f"{p50} / {p95} / {p99}")
        )
    raw = next((float(r["raw"]) for r in results.queue if r["connections"] == 4), None)  # type: ignore[arg-type]
    measure = (
        f"load: jobs completed/s, {report.workers} workers (reference: claim + complete, 4 conn.)"
    )
    rows.append(_row(measure, report.completed / seconds, raw))
    rows.append(_row("load: jobs submitted/s", report.submitted / seconds))
    return rows


def chaos_rows(report: ChaosReport) -> list[list[object]]:
    end, plan = report.end, report.plan
    counts = end.counts
    verdict = "all invariants hold" if not report.problems else "; ".join(report.problems)
    restarts = f"{report.database_down_seconds or 0:.1f} / {report.api_restart_seconds or 0:.1f}"
    return [
        _row(
            f"chaos: {plan.jobs} jobs (0–{plan.max_duration:g} s), {plan.workers} workers", verdict
        ),
        _row("chaos: end states", ", ".join(f"{k} {v}" for k, v in end.by_status.items())),
        _row(
            "chaos: SIGKILLs / SIGTERMs / worker processes started",
            f"{report.kills} / {report.terms} / {report.worker_starts}",
        ),
        _row(
            "chaos: takeovers / releases / retries",
            f"{counts['takeovers']} / {counts['releases']} / {counts['retries']}",
        ),
        _row("chaos: PostgreSQL restart / web API restart until healthy (s)", restarts),
        _row("chaos: wall time (s)", report.wall_seconds),
    ]


def fleet_chaos_rows(report: FleetChaosReport) -> list[list[object]]:
    end, plan = report.end, report.plan
    verdict = "all invariants hold" if not report.problems else "; ".join(report.problems)
    return [
        _row(
            f"fleet chaos: {plan.jobs} jobs (0–{plan.max_duration:g} s), ≤ {plan.max_workers} "
            "workers by shoal manager",
            verdict,
        ),
        _row("fleet chaos: end states", ", ".join(f"{k} {v}" for k, v in end.by_status.items())),
        _row(
            "fleet chaos: SIGKILLs / logged lost (no backoff) / logged failed launches",
            f"{report.kills} / {report.lost_logged} / {report.launch_failures_logged}",
        ),
        _row("fleet chaos: wall time from the first submit (s)", report.wall_seconds),
    ]


def logs_rows(report: LogsReport) -> list[list[object]]:
    """Per kind of job: claim → result ms (vs nothing), log requests and rows per job."""
    rows = []
    for what, _, job, delta, requests, _, written, stored in kind_rows(report):
        rows.append(
            _row(
                f"logs: {what}, per job: claim → result ms (vs nothing) / requests / rows / KiB",
                f"{job} ({delta}) / {requests} / {written} / {stored}",
            )
        )
    rows.append(_row("logs: " + posts_line(report), ""))
    return rows


def batch_rows(report: BatchReport) -> list[list[object]]:
    """Per size: one POST /api/jobs/batch and the queue layer, beside the raw SQL insert."""
    rows = []
    for size in report.sizes:
        raw = report.rate("raw", size)
        where = (("http", "one POST /api/jobs/batch"), ("queue", "queue layer"))
        for kind, how in where:
            measure = f"batch of {size:,} created, {how} (jobs/s; reference: raw SQL insert)"
            rows.append(_row(measure, report.rate(kind, size), raw))
    return rows


def table(results: Results) -> list[list[object]]:
    rows = queue_rows(results)
    if results.api:
        rows += api_rows(results.api)
    if results.load:
        rows += load_rows(results.load, results)
    if results.chaos:
        rows += chaos_rows(results.chaos)
    if results.fleet_chaos:
        rows += fleet_chaos_rows(results.fleet_chaos)
    if results.logs:
        rows += logs_rows(results.logs)
    if results.batches:
        rows += batch_rows(results.batches)
    return rows


def render(results: Results, command: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print(f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
        print(f"- machine: {machine()}; {load_average()} at the end")
        print(f"- command: `{command}`\n")
        print_table(HEADERS, table(results))
    return out.getvalue()


NOTES = """
How to read it:
- "reference" is the physical limit measured in the same run on the same server: the
  queue layer's own SQL statements under pgbench for throughputs, and the queue layer
  on a LISTEN connection (notification in, claim out) for the long-poll wake-up. The
  ratio is what shoal's layers cost on top (Python and SQLAlchemy for the queue layer;
  for HTTP also gunicorn, Flask, marshmallow and an authentication transaction per
  request).
- load: 16 researchers (4 processes of 4 threads) submit, read, list and follow events
  of TEST jobs of 0 s while 4 worker processes drain them; every answer other than
  2xx/3xx and every exception counts as an error. Jobs completed/s is bounded by the
  workers sharing two cores with the web API that the clients keep saturated.
- chaos: a SIGKILL to a random worker every 2 s, a SIGTERM (0.5 s grace) every 10 s,
  PostgreSQL stopped `immediate` once (at 30% done) and the web API's gunicorn
  master stopped and started again on its port once (at 60%); TEST leases of 3 s and
  20 attempts. Checked in SQL at the end: every job SUCCEEDED, no job with two
  results or two SUCCEEDED assignments, no assignment left live, each result from
  its job's SUCCEEDED assignment with its file on disk.
- fleet chaos: `shoal manager` (local backend, at most 2 TEST workers) runs the workers;
  a random one gets SIGKILL every 2–5 s for 2 minutes while 100 TEST jobs of 0–2 s
  drain. Every job must SUCCEED exactly once within 3 minutes of the first submit, and
  the manager must log every death as a lost worker (replaced at the next tick), never
  as a failed launch with its backoff.
- The machine is shared with other work (the load average is in the header), so
  absolute figures vary from run to run by tens of percent; the ratios less so.
"""


def save(text_: str) -> None:
    RESULTS.write_text(
        "# Benchmark results\n\n"
        "The latest run of `bench/run_all` (see bench/run_all.py for each row).\n\n" + text_ + NOTES
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="the load test for 60 s")
    parser.add_argument("--chaos-jobs", type=int, default=500)
    parser.add_argument("--queue-jobs", type=int, default=4000)
    parser.add_argument("--save", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args()
    results = run(args)
    command = shlex.join(["bench/run_all", *sys.argv[1:]])
    text_ = render(results, command)
    print(text_)
    if args.save:
        save(text_)
    failed = (
        bool(results.load and results.load.errors)
        or bool(results.chaos and results.chaos.problems)
        or bool(results.fleet_chaos and results.fleet_chaos.problems)
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
