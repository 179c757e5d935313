"""A handler that hangs, ignoring its cancellation, under the real manager: the job ends
TIMED_OUT at its timeoutSeconds, its worker exits to stop the thread, and the manager
replaces it at once (inside a long cooldown), so the next job runs seconds later."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e import live
from tests.e2e.conftest import SHOAL, StartApi, jwt_pems, start_api  # noqa: F401 - fixtures
from tests.e2e.helpers import job_in, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 3

# ``shoal worker`` with a TEST handler that never returns for id 1 and ignores cancellation.
HANGING_WORKER = """
import time
import worker.commands as commands
from worker.handlers import HandlerRegistry, load_handlers

base = load_handlers()


def build():
    handlers = HandlerRegistry()

    def test(ctx):
        while ctx.input["id"] == 1:
            time.sleep(0.05)
        return base.get("TEST")(ctx)

    handlers.register("TEST", test)
    handlers.register("POLYGON_STATS", base.get("POLYGON_STATS"))
    return handlers


commands.load_handlers = build
commands.worker(args=[])
"""


def test_a_hung_job_times_out_and_the_next_job_runs_on_a_replacement(
    start_api: StartApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    overrides = {"TEST": {"leaseSeconds": 3, "maxAttempts": 1, "timeoutSeconds": TIMEOUT}}
    api = start_api(SHOAL_JOB_OVERRIDES=json.dumps(overrides))
    script = tmp_path / "hanging_worker.py"
    script.write_text(HANGING_WORKER)
    worker_env = {"SHOAL_CANCEL_GRACE_SECONDS": "1", "SHOAL_CLAIM_WAIT_SECONDS": "1"}
    local = {"command": [sys.executable, str(script)], "environment": worker_env}
    policy = {"min": 0, "max": 1, "cooldownSeconds": 600, "factor": 1}
    env = {
        **live.base_env(),
        "SHOAL_API_URL": api.url,
        "SHOAL_API_KEY": api.manager_key,
        "SHOAL_WORKER_API_KEY": api.worker_key,
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_MANAGER_TICK_SECONDS": "0.5",
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps(
            {"jobTypes": {"TEST": {"policy": policy, "local": local}}}
        ),
    }
    log_path = tmp_path / "manager.log"
    with api.client() as client, log_path.open("wb") as log:
        manager = subprocess.Popen(
            [SHOAL, "manager"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            hung = client.submit_job("TEST", {"id": 1})["jobId"]
            wait_for(lambda: job_in(client, hung, "IN_PROGRESS"), 60, "the hung job to start")
            following = client.submit_job("TEST", {"id": 2})["jobId"]
            ended = wait_for(lambda: job_in(client, hung, "TIMED_OUT"), 30, "the time-out")
            timed_out_at = time.monotonic()
            wait_for(lambda: job_in(client, following, "SUCCEEDED"), 30, "the next job")
            next_after = time.monotonic() - timed_out_at
        finally:
            manager.send_signal(signal.SIGTERM)
            manager.wait(30)
    logs = log_path.read_text()
    assert ended["error_message"].startswith(f"ran past its run-time limit of {TIMEOUT} s")
    assert next_after < 10, f"the next job ran {next_after:.1f} s after the time-out"
    assert '"worker_lost"' in logs and "exited with code 4" in logs
    assert '"launch_failed"' not in logs
    print(f"next job done {next_after:.1f} s after the hung one timed out")
