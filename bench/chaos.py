"""The chaos run: TEST jobs on real workers while workers, PostgreSQL and the web API fail.

    .venv/bin/python bench/chaos.py [--jobs 500] [--workers 4] [--max-duration 3]
                                    [--kill-every 2] [--term-every 10]

The platform runs as processes (bench/platform.py): embedded PostgreSQL, ``shoal
webapi`` with TEST leases of 3 s and 20 attempts, and ``shoal worker`` processes,
kept at ``--workers`` alive (a dead one is replaced at once). Every ``--kill-every``
seconds a random worker gets SIGKILL; every ``--term-every`` seconds one gets
SIGTERM with a half-second grace (so it releases its job); once PostgreSQL is
stopped ``immediate`` and started on the same data directory; once the gunicorn
master gets SIGTERM and the web API is started again on the same port. At the end
every invariant of bench/invariants.py is checked; exit code 1 if one fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bench.harness import ANALYST_EMAIL, Platform, running_platform
from bench.invariants import EndState, read_end_state
from bench.support import machine, print_table
from shared.client import ShoalClient

TERMINAL = "('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"


@dataclass(frozen=True)
class ChaosPlan:
    jobs: int = 500
    max_duration: float = 3.0
    workers: int = 4
    kill_every: float = 2.0
    term_every: float = 10.0  # 0: no graceful stops
    grace_seconds: float = 0.5
    database_restart_at: float = 0.3  # fraction of jobs finished
    api_restart_at: float = 0.6
    database_stop_mode: str = "immediate"
    lease_seconds: int = 3
    max_attempts: int = 20
    api_workers: int = 2  # gunicorn worker processes
    timeout: float = 900.0
    seed: int = 1

    def job_overrides(self) -> dict[str, dict[str, int]]:
        return {"TEST": {"leaseSeconds": self.lease_seconds, "maxAttempts": self.max_attempts}}


@dataclass
class ChaosReport:
    plan: ChaosPlan
    end: EndState
    wall_seconds: float
    kills: int
    terms: int
    worker_starts: int
    database_down_seconds: float | None
    api_restart_seconds: float | None
    internal_errors: int
    fault_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        problems = list(self.end.problems) + self.fault_errors
        if self.database_down_seconds is None:
            problems.append("PostgreSQL was never restarted")
        if self.api_restart_seconds is None:
            problems.append("the web API was never restarted")
        if self.internal_errors:
            problems.append(f"the web API answered 500 {self.internal_errors} time(s)")
        return problems


class Faults:
    """The two one-off faults, each run once in its own thread when its moment comes."""

    def __init__(self, platform: Platform, plan: ChaosPlan) -> None:
        self.platform = platform
        self.plan = plan
        self.database_down: float | None = None
        self.api_restart: float | None = None
        self.errors: list[str] = []
        self._threads: dict[str, threading.Thread] = {}

    def maybe_fire(self, finished_fraction: float) -> None:
        if finished_fraction >= self.plan.database_restart_at:
            self._once("database", self._restart_database)
        if finished_fraction >= self.plan.api_restart_at:
            self._once("api", self._restart_api)

    @property
    def all_fired(self) -> bool:
        return len(self._threads) == 2

    def join(self) -> None:
        for thread in self._threads.values():
            thread.join()

    def _once(self, name: str, action: Callable[[], None]) -> None:
        if name in self._threads:
            return

        def guarded() -> None:
            try:
                action()
            except Exception as error:
                self.errors.append(f"{name} restart failed: {error}")

        self._threads[name] = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads[name].start()

    def _restart_database(self) -> None:
        self.database_down = self.platform.database.restart(self.plan.database_stop_mode)
        _say(f"PostgreSQL restarted ({self.database_down:.1f} s)")

    def _restart_api(self) -> None:
        self.api_restart = self.platform.api.restart()
        _say(f"web API restarted ({self.api_restart:.1f} s until healthy)")


def _say(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def submit(platform: Platform, plan: ChaosPlan) -> list[int]:
    """Submit the jobs as an analyst, durations uniform in [0, max_duration]."""
    rng = random.Random(plan.seed)
    payloads = [
        {"id": n, "durationSeconds": round(rng.uniform(0, plan.max_duration), 2)}
        for n in range(plan.jobs)
    ]
    with (
        ShoalClient(platform.url, email=ANALYST_EMAIL, password=platform.analyst_password) as c,
        ThreadPoolExecutor(8) as pool,
    ):
        answers = list(pool.map(lambda p: c.submit_job("TEST", p), payloads))
    if any(answer["cached"] for answer in answers):
        raise RuntimeError("a fresh payload was answered from the cache")
    return [answer["jobId"] for answer in answers]


def finished_count(platform: Platform) -> int | None:
    """Terminal jobs, straight from the database (None while it is down)."""
    try:
        with platform.sql().connect() as conn:
            return int(
                conn.execute(
                    text(f"SELECT count(*) FROM jobs WHERE status IN {TERMINAL}")
                ).scalar_one()
            )
    except SQLAlchemyError:
        return None


class Supervisor:
    """Keeps the workers alive, does the killing, and holds the one-off faults."""

    def __init__(self, platform: Platform, plan: ChaosPlan) -> None:
        self.platform = platform
        self.plan = plan
        self.faults = Faults(platform, plan)
        self.rng = random.Random(plan.seed + 1)
        self.kills = 0
        self.terms = 0
        self._stopping: set[int] = set()

    def keep_alive(self) -> None:
        running = [w for w in self.platform.alive_workers() if w.popen.pid not in self._stopping]
        for _ in range(self.plan.workers - len(running)):
            self.platform.start_worker()

    def hit(self, sig: signal.Signals) -> None:
        candidates = [w for w in self.platform.alive_workers() if w.popen.pid not in self._stopping]
        if not candidates:
            return
        victim = self.rng.choice(candidates)
        victim.popen.send_signal(sig)
        if sig is signal.SIGKILL:
            victim.popen.wait(5)
            self.kills += 1
        else:
            self._stopping.add(victim.popen.pid)  # it finishes its grace on its own
            self.terms += 1


class Progress:
    """A line on stderr every few seconds, so a stall is seen while it happens."""

    def __init__(self, jobs: int, started: float, every: float = 5.0) -> None:
        self.jobs, self.started, self.every = jobs, started, every
        self.next = started + every

    def show(self, finished: int | None) -> None:
        if time.monotonic() >= self.next:
            self.next = time.monotonic() + self.every
            done = "database down" if finished is None else f"{finished}/{self.jobs} finished"
            _say(f"{time.monotonic() - self.started:5.0f} s: {done}")


def drive(platform: Platform, plan: ChaosPlan, jobs: int, started: float) -> Supervisor:
    """Kill, restart and supervise until every job is terminal (or the timeout)."""
    supervisor = Supervisor(platform, plan)
    progress = Progress(jobs, started)
    next_kill = time.monotonic() + plan.kill_every
    next_term = time.monotonic() + plan.term_every if plan.term_every else float("inf")
    while time.monotonic() - started < plan.timeout:
        supervisor.keep_alive()
        now = time.monotonic()
        if now >= next_kill:
            supervisor.hit(signal.SIGKILL)
            next_kill = now + plan.kill_every
        if now >= next_term:
            supervisor.hit(signal.SIGTERM)
            next_term = now + plan.term_every
        finished = finished_count(platform)
        progress.show(finished)
        if finished is not None:
            supervisor.faults.maybe_fire(finished / jobs)
            if finished >= jobs and supervisor.faults.all_fired:
                break
        time.sleep(0.2)
    supervisor.faults.join()
    return supervisor


def run_chaos(platform: Platform, plan: ChaosPlan) -> ChaosReport:
    """Run the plan on a started platform (workers from ``platform.worker_env``)."""
    started = time.monotonic()
    for _ in range(plan.workers):
        platform.start_worker()
    job_ids = submit(platform, plan)
    _say(f"{len(job_ids)} jobs submitted in {time.monotonic() - started:.1f} s")
    supervisor = drive(platform, plan, len(job_ids), started)
    wall = time.monotonic() - started
    platform.stop_workers()
    faults = supervisor.faults
    return ChaosReport(
        plan=plan,
        end=read_end_state(platform.sql(), job_ids),
        wall_seconds=wall,
        kills=supervisor.kills,
        terms=supervisor.terms,
        worker_starts=len(platform.workers),
        database_down_seconds=faults.database_down,
        api_restart_seconds=faults.api_restart,
        internal_errors=platform.api.internal_errors(),
        fault_errors=faults.errors,
    )


@contextmanager
def chaos_platform(root: Path, plan: ChaosPlan) -> Iterator[Platform]:
    """The platform as the plan needs it: short leases, many attempts, a short grace."""
    with running_platform(
        root,
        job_overrides=plan.job_overrides(),
        api_workers=plan.api_workers,
        worker_env={"SHOAL_GRACE_SECONDS": plan.grace_seconds},
    ) as platform:
        yield platform


def report_rows(report: ChaosReport) -> list[list[object]]:
    end, plan = report.end, report.plan
    return [
        ["jobs", f"{plan.jobs} TEST, 0–{plan.max_duration:g} s, {plan.workers} workers"],
        ["end states", ", ".join(f"{k} {v}" for k, v in sorted(end.by_status.items()))],
        *[[name, n] for name, n in end.broken.items()],
        ["worker SIGKILLs", report.kills],
        ["worker SIGTERMs", report.terms],
        ["worker processes started", report.worker_starts],
        ["takeovers (EXPIRED, then another attempt)", end.counts["takeovers"]],
        ["releases", end.counts["releases"]],
        ["retries (sum of attempts − 1)", end.counts["retries"]],
        ["most attempts of one job", end.counts["most attempts"]],
        ["PostgreSQL restart (stop + start)", _seconds(report.database_down_seconds)],
        ["web API restart (until healthy)", _seconds(report.api_restart_seconds)],
        ["HTTP 500 answers", report.internal_errors],
        ["wall time", _seconds(report.wall_seconds)],
        ["verdict", "OK" if not report.problems else "; ".join(report.problems)],
    ]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-duration", type=float, default=3.0)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--term-every", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args()
    plan = ChaosPlan(
        jobs=args.jobs,
        workers=args.workers,
        max_duration=args.max_duration,
        kill_every=args.kill_every,
        term_every=args.term_every,
        seed=args.seed,
    )
    with ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        platform = stack.enter_context(chaos_platform(root, plan))
        report = run_chaos(platform, plan)
    print(f"chaos run; {machine()}")
    print_table(["what", "value"], report_rows(report))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
