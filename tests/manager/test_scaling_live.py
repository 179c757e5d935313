"""The whole loop, live: ``shoal manager`` (local backend) against ``shoal webapi`` scales
from 0 to N real ``shoal worker`` processes for a burst of TEST jobs, every job
succeeds, and the workers exit by idle timeout afterwards (fleet back to 0)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.client import ShoalClient
from tests.e2e import live
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    SHOAL,
    LiveApi,
    jwt_pems,
    live_api,
    start_api,
)

pytestmark = pytest.mark.slow

JOBS = 12
MAX_WORKERS = 3


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.25)
    return time.monotonic() - started


def manager_env(api: LiveApi, tmp_path: Path) -> dict[str, str]:
    worker_env = {
        "SHOAL_IDLE_TIMEOUT_SECONDS": "3",
        "SHOAL_CLAIM_WAIT_SECONDS": "1",
        "SHOAL_WORK_DIR": str(tmp_path / "work"),
    }
    policy = {"min": 0, "max": MAX_WORKERS, "cooldownSeconds": 1, "sensitivity": 2, "factor": 1}
    document = {"jobTypes": {"TEST": {"policy": policy, "local": {"environment": worker_env}}}}
    return {
        **live.base_env(),
        "SHOAL_API_URL": api.url,
        "SHOAL_API_KEY": api.manager_key,
        "SHOAL_WORKER_API_KEY": api.worker_key,
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_MANAGER_TICK_SECONDS": "0.5",
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps(document),
    }


def test_burst_scales_up_succeeds_and_scales_back_to_zero(
    live_api: LiveApi,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "manager.log"
    with live_api.client() as client, log_path.open("wb") as log:
        manager = subprocess.Popen(
            [SHOAL, "manager"],
            env=manager_env(live_api, tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _run_burst(client, manager)
        finally:
            if manager.poll() is None:
                manager.send_signal(signal.SIGTERM)
            code = manager.wait(30)
    logs = log_path.read_text()
    assert code == 0, logs
    assert '"lease_acquired"' in logs and '"shutdown"' in logs


def _workers(client: ShoalClient) -> list[dict[str, object]]:
    found: list[dict[str, object]] = client.admin_workers()["workers"]
    return found


def _run_burst(client: ShoalClient, manager: subprocess.Popen[bytes]) -> None:
    wait_until(lambda: client.admin_status()["serviceStatus"] == "ACTIVE", 30, "the manager")
    assert _workers(client) == []
    ids = [
        client.submit_job("TEST", {"id": n, "durationSeconds": 0.5})["jobId"] for n in range(JOBS)
    ]
    peak = 0

    def all_done() -> bool:
        nonlocal peak
        peak = max(peak, len(_workers(client)))
        return all(client.get_job(i)["status"] in ("SUCCEEDED", "FAILED") for i in ids)

    took = wait_until(all_done, 90, f"{JOBS} jobs")
    assert [client.get_job(i)["status"] for i in ids] == ["SUCCEEDED"] * JOBS
    assert 1 < peak <= MAX_WORKERS
    drained = wait_until(lambda: _workers(client) == [], 30, "the workers' idle exit")
    assert manager.poll() is None
    print(
        f"{JOBS} jobs: done in {took:.1f} s on up to {peak} workers; back to 0 in {drained:.1f} s"
    )
