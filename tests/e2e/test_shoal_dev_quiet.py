"""``shoal dev``'s own terminal stays quiet: the banner, no line per job, no start-up
connection warnings, no traceback at Ctrl-C; the processes' logs go to a file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from shared.client.health import wait_healthy
from tests.e2e.helpers import wait_for
from tests.e2e.live import free_port
from tests.support.shoal_dev import start_shoal_dev

pytestmark = pytest.mark.slow

ADMIN = ("admin@example.org", "admin-password")


def test_a_quiet_terminal_and_ctrl_c_without_a_traceback(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "shoal-data", free_port()
    url = f"http://127.0.0.1:{port}"
    out = tmp_path / "terminal.txt"
    with out.open("wb") as log:
        proc = start_shoal_dev(data_dir, port, ADMIN, log=log, verbose=False)
        try:
            assert wait_healthy(url, 150, still_starting=lambda: proc.poll() is None)
            token = httpx.post(
                f"{url}/api/auth/login", json=dict(zip(("email", "password"), ADMIN, strict=True))
            ).json()["token"]
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
                body = {"type": "TEST", "inputPayload": {"id": 1, "durationSeconds": 0.2}}
                job_id = http.post("/api/jobs", json=body).json()["jobId"]

                def succeeded() -> bool:
                    return http.get(f"/api/jobs/{job_id}").json()["job"]["status"] == "SUCCEEDED"

                wait_for(succeeded, 120, "the job to succeed")
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C, as a person would
            try:
                proc.wait(120)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    terminal = out.read_text()
    assert "Traceback" not in terminal and "Connection refused" not in terminal, terminal
    assert '"job_id"' not in terminal and "gunicorn" not in terminal, terminal
    assert f"Logs: {data_dir / 'platform.log'}" in terminal
    assert terminal.rstrip().endswith("stopping ..."), terminal
    # What the processes logged is all in the file.
    logged = (data_dir / "platform.log").read_text()
    assert '"action": "job_ended"' in logged and f'"job_id": {job_id}' in logged
