"""Workflows through ``shoal dev`` (its manager starts the workers, each type's own):
prepare → a sweep of 100 → an aggregate that reads every sweep result through
``$from``, submitted as one workflow from YAML with ``shoal workflows submit --wait``;
then what a parent's end does to its dependents: an ``afterok`` one of a failed parent
is cancelled naming it, an ``afterany`` one runs anyway, and cancelling a parent
cancels what waits on it.

One ``shoal dev`` serves every test of this module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.e2e.test_shoal_dev import ADMIN
from tests.e2e.test_shoal_dev_command_types import dev  # noqa: F401 - the module's shoal dev

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
SWEEP = 100
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")


def _shoal(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHOAL_API_URL": url,
        "SHOAL_EMAIL": ADMIN["email"],
        "SHOAL_PASSWORD": ADMIN["password"],
        "COLUMNS": "200",
    }
    env.pop("SHOAL_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "shoal_cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_prepare_sweep_aggregate_runs_to_the_end_from_yaml(
    dev: ShoalClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    client, url = dev, dev.base_url
    applied = _shoal(url, "types", "apply", "-f", "examples/workflow/aggregate-type.yaml")
    assert applied.returncode == 0, applied.stderr
    flow = yaml.safe_load((ROOT / "examples/workflow/flow.yaml").read_text())
    flow["steps"][1]["inputs"] = [{"id": n} for n in range(1, SWEEP + 1)]
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump(flow))
    done = _shoal(url, "workflows", "submit", str(tmp_path / "flow.yaml"), "--wait", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    workflow = json.loads(done.stdout)["workflow"]
    assert workflow["status"] == "SUCCEEDED"
    steps = {step["name"]: step for step in workflow["steps"]}
    assert steps["sweep"]["counts"] == {"SUCCEEDED": SWEEP}
    aggregate = client.get_job(steps["aggregate"]["jobId"])
    result = aggregate["assignments"][-1]["result"]["result_payload"]
    assert result == {"count": SWEEP, "sum": SWEEP * (SWEEP + 1) // 2, "prepared": 0}


def _submit(client: ShoalClient, payload: dict[str, Any], *dependencies: dict) -> int:
    body = {"type": "TEST", "inputPayload": payload, "dependencies": list(dependencies)}
    return int(client.request("POST", "/api/jobs", json=body)["jobId"])


def _ended(client: ShoalClient, job_id: int) -> dict[str, Any]:
    return wait_for(lambda: job_in(client, job_id, *ENDED), 120, f"job {job_id} to end")


def test_a_failed_parent_cancels_its_afterok_dependents_and_afterany_ones_run(
    dev: ShoalClient,  # noqa: F811
) -> None:
    client = dev
    parent = _submit(client, {"id": 1001, "fail": True})
    ok = _submit(client, {"id": 1002}, {"job": parent})
    anyway = _submit(client, {"id": 1003}, {"job": parent, "condition": "afterany"})
    assert _ended(client, parent)["status"] == "FAILED"
    cancelled = _ended(client, ok)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["error_message"] == f"dependency job {parent} ended FAILED (afterok)"
    assert _ended(client, anyway)["status"] == "SUCCEEDED"


def test_cancelling_a_parent_cancels_its_dependents(dev: ShoalClient) -> None:  # noqa: F811
    client = dev
    parent = _submit(client, {"id": 2001, "durationSeconds": 600})
    child = _submit(client, {"id": 2002}, {"job": parent, "condition": "afterany"})
    grandchild = _submit(client, {"id": 2003}, {"job": child, "condition": "afterany"})
    answer = client.request("POST", f"/api/jobs/{parent}/cancel")
    assert answer["cancelledDependents"] == 2
    for job_id in (child, grandchild):
        job = client.get_job(job_id)
        assert job["status"] == "CANCELLED"
        assert job["error_message"] == f"dependency job {parent} was cancelled"
    assert _ended(client, parent)["status"] == "CANCELLED"
