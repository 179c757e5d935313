"""Job logs end to end: a custom job type's handler logs, prints and runs a subprocess in
a real ``shoal worker``; its lines come back through the real web API and ``shoal jobs
logs``, per attempt, with a killed worker and with far more output than the bound."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.client import ShoalClient
from tests.e2e.conftest import SHOAL, LiveApi, StartApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for
from tests.support.job_package import install_job_package

pytestmark = pytest.mark.slow

StartWorker = Callable[..., WorkerProcess]

TYPES = """
from marshmallow import Schema, fields

from shared.jobtypes import JobTypeSpec


class ChattyInput(Schema):
    mode = fields.String(required=True)


def job_types():
    return [JobTypeSpec(name="CHATTY", input_schema=ChattyInput, result_schema=Schema)]
"""

HANDLERS = """
import logging
import subprocess
import sys


def register(registry):
    @registry.handler("CHATTY")
    def chatty(ctx):
        mode = ctx.input["mode"]
        if mode == "talk":
            ctx.logger.info("starting")
            print("printed")
            subprocess.run(["sh", "-c", "echo from child; echo child err >&2"], check=True)
            logging.getLogger("science").warning("done")
        elif mode == "hang-first":
            attempt = ctx.job["attempts"]
            for n in range(5):
                print(f"attempt {attempt} line {n}")
            while attempt == 1 and ctx.sleep(0.1):
                pass  # killed here
        elif mode == "flood":
            line = "x" * 1023
            for _ in range(50 * 1024):  # 50 MiB
                print(line)
        return {}
"""

OVERRIDES = {
    "TEST": {"leaseSeconds": 3, "maxAttempts": 3},
    "CHATTY": {"leaseSeconds": 3, "maxAttempts": 3},
}
MiB = 1024 * 1024


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return install_job_package(tmp_path / "site", "chatty_jobs", TYPES, HANDLERS)


@pytest.fixture
def chatty_api(start_api: StartApi, package: Path) -> LiveApi:
    """The web API with the CHATTY type (short leases, 3 attempts)."""
    return start_api(PYTHONPATH=package, SHOAL_JOB_OVERRIDES=json.dumps(OVERRIDES))


def _ended(client: ShoalClient, job_id: int) -> dict[str, Any]:
    return wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 300, f"job {job_id}")


def _all_lines(
    client: ShoalClient, job_id: int, attempt: int | None = None
) -> list[dict[str, Any]]:
    return [line for line, _ in client.iter_job_logs(job_id, attempt=attempt)]


def _shown(lines: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    return [(line["attempt"], line["stream"], line["level"], line["message"]) for line in lines]


def _cli(api: LiveApi, *args: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")},
        "SHOAL_API_URL": api.url,
        "SHOAL_EMAIL": "e2e-admin@example.org",
        "SHOAL_PASSWORD": api.admin_password,
    }
    return subprocess.Popen(
        [SHOAL, "jobs", "logs", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXPECTED = [
    (1, "log", "INFO", "starting"),
    (1, "stdout", "INFO", "printed"),
    (1, "stdout", "INFO", "from child"),
    (1, "stderr", "INFO", "child err"),
    (1, "log", "WARNING", "done"),
]


def test_logs_prints_and_subprocess_output_come_back_in_order(
    chatty_api: LiveApi, worker_process: StartWorker, package: Path
) -> None:
    api = chatty_api
    with api.client() as client:
        job_id = client.submit_job("CHATTY", {"mode": "talk"})["jobId"]
        # Followed from before the job runs: every line once, then the end.
        follower = _cli(api, str(job_id), "-f", "--format", "jsonl")
        worker_process("CHATTY", api, PYTHONPATH=package)
        job = _ended(client, job_id)
        assert job["status"] == "SUCCEEDED", job
        stored = _all_lines(client, job_id)
    assert _shown(stored) == EXPECTED
    assert [line["seq"] for line in stored] == sorted(line["seq"] for line in stored)
    followed, errors = follower.communicate(timeout=60)
    assert follower.returncode == 0, errors
    assert _shown([json.loads(line) for line in followed.splitlines()]) == EXPECTED
    assert f"job {job_id} SUCCEEDED" in errors
    printed, errors = _cli(api, str(job_id)).communicate(timeout=60)
    assert [line.split(maxsplit=3)[1:] for line in printed.splitlines()] == [
        ["#1", tag, message]
        for _, stream, level, message in EXPECTED
        for tag in [level if stream == "log" else stream]
    ], errors


def test_a_killed_attempt_keeps_its_shipped_lines_and_the_next_has_its_own(
    chatty_api: LiveApi, worker_process: StartWorker, package: Path
) -> None:
    api = chatty_api
    with api.client() as client:
        job_id = client.submit_job("CHATTY", {"mode": "hang-first"})["jobId"]
        first = worker_process("CHATTY", api, PYTHONPATH=package)
        wait_for(lambda: len(_all_lines(client, job_id)) == 5, 60, "the first attempt's lines")
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(10)
        worker_process("CHATTY", api, PYTHONPATH=package)
        job = _ended(client, job_id)
        assert job["status"] == "SUCCEEDED" and job["attempts"] == 2, job
        every = _all_lines(client, job_id)
        firsts = _all_lines(client, job_id, attempt=1)
        seconds = _all_lines(client, job_id, attempt=2)
    assert [(line["attempt"], line["message"]) for line in every] == [
        (attempt, f"attempt {attempt} line {n}") for attempt in (1, 2) for n in range(5)
    ]
    assert [line["message"] for line in firsts] == [f"attempt 1 line {n}" for n in range(5)]
    assert [line["message"] for line in seconds] == [f"attempt 2 line {n}" for n in range(5)]
    assert [line["seq"] for line in seconds] == list(range(5))  # numbered per attempt


def _rss_bytes(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_50_mib_of_output_keeps_the_worker_bounded_and_the_tail(
    chatty_api: LiveApi, worker_process: StartWorker, package: Path
) -> None:
    api = chatty_api
    worker = worker_process("CHATTY", api, PYTHONPATH=package)
    wait_for(lambda: '"worker_started"' in worker.logs(), 30, "the worker to start")
    with api.client() as client:
        warm = client.submit_job("CHATTY", {"mode": "talk"})["jobId"]  # imports done, pools up
        wait_for(lambda: job_in(client, warm, "SUCCEEDED"), 60, "the warm-up job")
        before = _rss_bytes(worker.pid)
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak.append(_rss_bytes(worker.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            job_id = client.submit_job("CHATTY", {"mode": "flood"})["jobId"]
            job = _ended(client, job_id)
        finally:
            done.set()
            sampler.join()
        lines = _all_lines(client, job_id)
    assert job["status"] == "SUCCEEDED", job
    grown = max(peak) - before
    print(f"worker RSS {before / MiB:.1f} MiB, peak +{grown / MiB:.1f} MiB over 50 MiB printed")
    assert grown < 24 * MiB
    printed = [line for line in lines if line["stream"] == "stdout"]
    stored = sum(len(line["message"].encode()) for line in printed)
    assert stored <= 1 * MiB  # the per-attempt bound (the API's default)
    assert stored >= MiB // 2  # and it is full: the tail was kept, not lost
    assert all(line["message"] == "x" * 1023 for line in printed)
    assert lines[0]["stream"] == "shoal"  # the cut, where it was made
    assert printed[-1]["seq"] == 50 * 1024 - 1  # the very last line made it
