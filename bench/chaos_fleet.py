"""The fleet's chaos run: TEST jobs through the real manager while its workers die.

    .venv/bin/python bench/chaos_fleet.py [--jobs 100] [--max-workers 2] [--max-duration 2]
                                          [--kill-every 2-5] [--kill-for 120] [--deadline 180]

PostgreSQL and ``shoal webapi`` as in bench/chaos.py, and ``shoal manager`` on the local
backend (max ``--max-workers`` TEST workers, its own ``shoal worker`` processes). Every
2–5 s a random live worker gets SIGKILL, for ``--kill-for`` seconds. Every job must
end SUCCEEDED exactly once within ``--deadline`` seconds of the first submit, and the
manager's log must show each death as a lost worker (``worker_lost``), never as a
failed launch with its backoff (``launch_failed``). Jobs keep the type's 3 attempts:
an attempt lost to a kill from outside is not counted against them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from bench.chaos import ChaosPlan, finished_count, submit
from bench.harness import ADMIN_EMAIL, SHOAL, Platform, base_env, running_platform, shoal
from bench.invariants import EndState, read_end_state
from bench.support import machine, print_table


@dataclass(frozen=True)
class FleetChaosPlan:
    jobs: int = 100
    max_duration: float = 2.0
    max_workers: int = 2
    kill_min: float = 2.0
    kill_max: float = 5.0
    kill_for: float = 120.0
    deadline: float = 180.0
    lease_seconds: int = 10
    max_attempts: int = 3  # the type's default: kills from outside must not spend them
    seed: int = 1


@dataclass
class FleetChaosReport:
    plan: FleetChaosPlan
    end: EndState
    wall_seconds: float
    kills: int
    lost_logged: int
    launch_failures_logged: int

    @property
    def problems(self) -> list[str]:
        problems = list(self.end.problems)
        if self.wall_seconds > self.plan.deadline:
            problems.append(f"took {self.wall_seconds:.0f} s, over {self.plan.deadline:.0f} s")
        if self.launch_failures_logged:
            problems.append(f"{self.launch_failures_logged} deaths taken for failed launches")
        return problems


# What the workers get, whoever starts them.
WORKER_ENV = {
    "SHOAL_IDLE_TIMEOUT_SECONDS": "30",
    "SHOAL_CLAIM_WAIT_SECONDS": "2",
    "SHOAL_HEARTBEAT_SECONDS": "1",
}


class Fleet(Protocol):
    """Where the manager's workers run, and how the run kills one."""

    def manager_env(self, platform: Platform, plan: FleetChaosPlan) -> dict[str, str]: ...

    def kill_one(self, manager: subprocess.Popen[bytes], rng: random.Random) -> bool: ...


class LocalFleet:
    """``SHOAL_COMPUTE_BACKEND=local``: the workers are the manager's child processes."""

    def manager_env(self, platform: Platform, plan: FleetChaosPlan) -> dict[str, str]:
        worker_env = {**WORKER_ENV, "SHOAL_WORK_DIR": str(platform.root / "work")}
        target = {"local": {"environment": worker_env}}
        return {"SHOAL_COMPUTE_BACKEND": "local", **manager_document(plan, target)}

    def kill_one(self, manager: subprocess.Popen[bytes], rng: random.Random) -> bool:
        try:
            children = psutil.Process(manager.pid).children()
        except psutil.NoSuchProcess:
            return False
        live = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        if not live:
            return False
        rng.choice(live).send_signal(signal.SIGKILL)
        return True


def manager_document(plan: FleetChaosPlan, target: dict[str, Any]) -> dict[str, str]:
    policy = {"min": 0, "max": plan.max_workers, "cooldownSeconds": 5, "factor": 1}
    document = {"jobTypes": {"TEST": {"policy": policy, **target}}}
    return {"SHOAL_MANAGER_CONFIG_JSON": json.dumps(document)}


def start_manager(
    platform: Platform, plan: FleetChaosPlan, fleet: Fleet
) -> subprocess.Popen[bytes]:
    created = shoal(
        platform.api.env,
        "db",
        "api-keys",
        "create",
        "chaos manager",
        "--role",
        "MANAGER",
        "--owner",
        ADMIN_EMAIL,
    )
    env = {
        **base_env(),
        "SHOAL_API_URL": platform.url,
        "SHOAL_API_KEY": created.strip().splitlines()[-1],
        "SHOAL_WORKER_API_KEY": platform.worker_key,
        "SHOAL_MANAGER_TICK_SECONDS": "0.5",
        **fleet.manager_env(platform, plan),
    }
    with (platform.root / "logs" / "manager.log").open("wb") as log:
        return subprocess.Popen([SHOAL, "manager"], env=env, stdout=log, stderr=subprocess.STDOUT)


def drive(
    platform: Platform,
    plan: FleetChaosPlan,
    fleet: Fleet,
    manager: subprocess.Popen[bytes],
    jobs: int,
    started: float,
) -> int:
    """Kill workers until every job is terminal (kills stop after ``kill_for``)."""
    rng = random.Random(plan.seed)
    kills = 0
    next_kill = started + rng.uniform(plan.kill_min, plan.kill_max)
    while time.monotonic() - started < plan.deadline + 30:
        now = time.monotonic()
        if now >= next_kill and now - started < plan.kill_for:
            kills += fleet.kill_one(manager, rng)
            next_kill = now + rng.uniform(plan.kill_min, plan.kill_max)
        finished = finished_count(platform)
        if finished is not None and finished >= jobs:
            break
        if manager.poll() is not None:
            raise RuntimeError(f"the manager exited with {manager.returncode}")
        time.sleep(0.1)
    return kills


def run_fleet_chaos(
    root: Path, plan: FleetChaosPlan, fleet: Fleet | None = None
) -> FleetChaosReport:
    fleet = fleet or LocalFleet()
    overrides = {"TEST": {"leaseSeconds": plan.lease_seconds, "maxAttempts": plan.max_attempts}}
    with running_platform(root, job_overrides=overrides, api_workers=1) as platform:
        manager = start_manager(platform, plan, fleet)
        try:
            started = time.monotonic()
            job_ids = submit(platform, _as_chaos_plan(plan))
            kills = drive(platform, plan, fleet, manager, len(job_ids), started)
            wall = time.monotonic() - started
        finally:
            manager.send_signal(signal.SIGTERM)
            try:
                manager.wait(30)
            except subprocess.TimeoutExpired:
                manager.kill()
                manager.wait(10)
        logs = (root / "logs" / "manager.log").read_text(errors="replace")
        return FleetChaosReport(
            plan=plan,
            end=read_end_state(platform.sql(), job_ids),
            wall_seconds=wall,
            kills=kills,
            lost_logged=logs.count('"action": "worker_lost"'),
            launch_failures_logged=logs.count('"action": "launch_failed"'),
        )


def _as_chaos_plan(plan: FleetChaosPlan) -> ChaosPlan:
    return ChaosPlan(jobs=plan.jobs, max_duration=plan.max_duration, seed=plan.seed)


def report_rows(report: FleetChaosReport) -> list[list[object]]:
    end, plan = report.end, report.plan
    return [
        ["jobs", f"{plan.jobs} TEST, 0–{plan.max_duration:g} s, ≤ {plan.max_workers} workers"],
        ["end states", ", ".join(f"{k} {v}" for k, v in sorted(end.by_status.items()))],
        *[[name, n] for name, n in end.broken.items()],
        ["worker SIGKILLs", report.kills],
        ["logged as lost (replaced, no backoff)", report.lost_logged],
        ["logged as failed launches (backoff)", report.launch_failures_logged],
        ["retries (sum of attempts − 1)", end.counts["retries"]],
        ["attempts lost to the platform (not counted)", end.counts["lost to the platform"]],
        ["attempts lost and counted", end.counts["counted attempts lost"]],
        ["wall time from the first submit", f"{report.wall_seconds:.1f} s"],
        ["verdict", "OK" if not report.problems else "; ".join(report.problems)],
    ]


def run_and_report(
    keep: Path | None, prefix: str, backend: str, run: Callable[[Path], FleetChaosReport]
) -> None:
    """Run in ``keep`` (else a temporary directory), print the table, exit 1 on a problem."""
    with ExitStack() as stack:
        root = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        report = run(root)
    print(f"fleet chaos run ({backend}, real manager); {machine()}")
    print_table(["what", "value"], report_rows(report))
    sys.exit(1 if report.problems else 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--max-duration", type=float, default=2.0)
    parser.add_argument("--kill-every", default="2-5", help="seconds between kills, MIN-MAX")
    parser.add_argument("--kill-for", type=float, default=120.0)
    parser.add_argument("--deadline", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args()
    low, high = (float(part) for part in args.kill_every.split("-"))
    plan = FleetChaosPlan(
        jobs=args.jobs,
        max_workers=args.max_workers,
        max_duration=args.max_duration,
        kill_min=low,
        kill_max=high,
        kill_for=args.kill_for,
        deadline=args.deadline,
        seed=args.seed,
    )
    run_and_report(args.keep, "fleet-", "local backend", lambda root: run_fleet_chaos(root, plan))


if __name__ == "__main__":
    main()
