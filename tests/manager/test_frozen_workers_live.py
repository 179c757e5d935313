"""Every worker frozen (SIGSTOP) under the real ``shoal manager``: the API stops hearing
from them, the manager kills them and launches replacements inside a long cooldown,
and the jobs they held come back at once without losing an attempt (each job has only
one), so every job still succeeds."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shared.client import ShoalClient
from tests.e2e import live
from tests.e2e.conftest import SHOAL, StartApi, jwt_pems, start_api  # noqa: F401 - fixtures
from tests.e2e.helpers import job_in, wait_for

pytestmark = pytest.mark.slow
SILENT_SECONDS = 8
JOBS = 4
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")


def _manager_env(url: str, manager_key: str, worker_key: str, tmp_path: Path) -> dict[str, str]:
    worker_env = {
        "SHOAL_CLAIM_WAIT_SECONDS": "1",
        "SHOAL_HEARTBEAT_SECONDS": "1",
        "SHOAL_IDLE_TIMEOUT_SECONDS": "60",
        "SHOAL_WORK_DIR": str(tmp_path / "work"),
    }
    # A long cooldown: only replacements of lost workers launch inside it.
    policy = {"min": 0, "max": 2, "cooldownSeconds": 600, "factor": 1}
    document = {"jobTypes": {"TEST": {"policy": policy, "local": {"environment": worker_env}}}}
    return {
        **live.base_env(),
        "SHOAL_API_URL": url,
        "SHOAL_API_KEY": manager_key,
        "SHOAL_WORKER_API_KEY": worker_key,
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_MANAGER_TICK_SECONDS": "0.5",
        "SHOAL_MANAGER_SILENT_SECONDS": str(SILENT_SECONDS),
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps(document),
    }


@pytest.fixture
def frozen() -> Iterator[list[psutil.Process]]:
    """The processes the test froze; any still alive at the end are killed."""
    found: list[psutil.Process] = []
    yield found
    for process in found:
        if process.is_running():
            process.kill()


def _workers(manager: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(manager.pid).children()
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
    ]


def test_frozen_workers_are_killed_replaced_and_their_jobs_finish_uncounted(
    start_api: StartApi,  # noqa: F811
    tmp_path: Path,
    frozen: list[psutil.Process],
) -> None:
    overrides = {"TEST": {"leaseSeconds": 60, "maxAttempts": 1}}
    api = start_api(SHOAL_JOB_OVERRIDES=json.dumps(overrides))
    env = _manager_env(api.url, api.manager_key, api.worker_key, tmp_path)
    log_path = tmp_path / "manager.log"
    with api.client() as client, log_path.open("wb") as log:
        manager = subprocess.Popen(
            [SHOAL, "manager"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            ids = [
                client.submit_job("TEST", {"id": n, "durationSeconds": 4})["jobId"]
                for n in range(JOBS)
            ]
            wait_for(lambda: _running(client, ids) == 2, 60, "two workers at work")
            workers = wait_for(lambda: _two(_workers(manager)), 30, "two worker processes")
            for process in workers:
                process.send_signal(signal.SIGSTOP)
                frozen.append(process)
            wait_for(lambda: all(job_in(client, i, *ENDED) for i in ids), 120, "every job to end")
            statuses = [client.get_job(i)["status"] for i in ids]
            lost = [
                a for i in ids for a in client.get_job(i)["assignments"] if a["outcome"] == "LOST"
            ]
        finally:
            manager.send_signal(signal.SIGTERM)
            manager.wait(60)
    logs = log_path.read_text()
    assert statuses == ["SUCCEEDED"] * JOBS, logs
    assert not any(process.is_running() for process in frozen)  # killed, not left stopped
    frozen_arns = {f"local:{socket.gethostname()}:{process.pid}" for process in frozen}
    assert {a["ecs_task_arn"] for a in lost} == frozen_arns
    assert all(a["counted"] is False and "frozen" in a["lost_reason"] for a in lost)
    assert logs.count('"action": "worker_lost"') == 2
    assert '"action": "launch_failed"' not in logs


def _two(workers: list[psutil.Process]) -> list[psutil.Process] | None:
    return workers if len(workers) == 2 else None


def _running(client: ShoalClient, ids: list[int]) -> int:
    return sum(client.get_job(i)["status"] == "IN_PROGRESS" for i in ids)
