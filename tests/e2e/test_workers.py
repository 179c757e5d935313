"""The platform end to end: the real web API (gunicorn) and real worker processes."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import LiveApi, WorkerProcess
from tests.e2e.helpers import count, job_in, wait_for
from worker.runtime import CLEANUP_SECONDS

pytestmark = pytest.mark.slow

StartWorker = Callable[..., WorkerProcess]


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_200_jobs_on_3_workers_each_run_exactly_once(
    live_api: LiveApi, worker_process: StartWorker
) -> None:
    rng = random.Random(7)
    payloads = [{"id": n, "durationSeconds": round(rng.uniform(0, 0.05), 3)} for n in range(200)]
    workers = [worker_process("TEST") for _ in range(3)]
    # All three long-poll before the first job exists, so each gets a share.
    wait_for(
        lambda: all('"worker_started"' in w.logs() for w in workers), 30, "the workers to start"
    )
    with live_api.client() as client:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            created = list(pool.map(lambda p: client.submit_job("TEST", p), payloads))
        assert not any(answer["cached"] for answer in created)
        job_ids = [answer["jobId"] for answer in created]
        wait_for(lambda: count(client, "SUCCEEDED") == 200, 120, "200 jobs to succeed", 0.5)
        elapsed = time.monotonic() - started
        with ThreadPoolExecutor(4) as pool:
            jobs = list(pool.map(client.get_job, job_ids))
    for job in jobs:
        assert job["status"] == "SUCCEEDED"
        assert job["attempts"] == 1
        [assignment] = job["assignments"]
        assert assignment["outcome"] == "SUCCEEDED"
        assert assignment["result"] is not None
        stored = live_api.storage_dir / "test" / str(job["id"]) / "attempt-1" / "result.json"
        assert stored.is_file()
    assert all(worker.popen.poll() is None for worker in workers)
    # Every worker took part.
    assert all(worker.logs().count('"job_reported"') > 0 for worker in workers)
    print(f"200 TEST jobs on 3 workers: {elapsed:.1f} s")


def test_a_killed_workers_job_is_taken_over_after_its_lease(
    live_api: LiveApi, worker_process: StartWorker
) -> None:
    with live_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1, "durationSeconds": 3})["jobId"]
        first = worker_process("TEST")
        wait_for(lambda: job_in(client, job_id, "IN_PROGRESS"), 20, "the job to start")
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(5)
        worker_process("TEST")
        job = wait_for(
            lambda: job_in(client, job_id, "SUCCEEDED", "FAILED", "TIMED_OUT"), 30, "the job to end"
        )
    assert job["status"] == "SUCCEEDED"
    assert job["attempts"] == 2
    lost, second = job["assignments"]
    assert lost["outcome"] == "EXPIRED" and lost["result"] is None
    assert second["outcome"] == "SUCCEEDED" and second["result"] is not None
    assert (live_api.storage_dir / "test" / str(job_id) / "attempt-2" / "result.json").is_file()
    # Taken over only once the lease the killed worker last extended had run out.
    assert _at(second["created_at"]) >= _at(lost["expires_at"])


def test_sigterm_releases_a_long_job_and_exits_0(
    live_api: LiveApi, worker_process: StartWorker
) -> None:
    grace = 2
    with live_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 2, "durationSeconds": 30})["jobId"]
        worker = worker_process("TEST", SHOAL_GRACE_SECONDS=grace)
        wait_for(lambda: job_in(client, job_id, "IN_PROGRESS"), 20, "the job to start")
        signalled, signalled_at = time.monotonic(), datetime.now(UTC)
        worker.popen.send_signal(signal.SIGTERM)
        try:
            code = worker.popen.wait(grace + 5)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker did not exit within its grace period and a margin")
        took = time.monotonic() - signalled
        job = client.get_job(job_id)
    assert code == 0
    assert job["status"] == "PENDING"  # requeued at once, not after the lease
    [released] = job["assignments"]
    assert released["outcome"] == "RELEASED" and released["result"] is None
    # The job had the whole grace period, was handed back right after it, and the
    # worker was gone once the handler's clean-up time was up.
    assert grace <= (_at(released["completed_at"]) - signalled_at).total_seconds() < grace + 1
    assert grace <= took < grace + CLEANUP_SECONDS + 1
    assert '"released"' in worker.logs()


def test_an_idle_worker_exits_0(live_api: LiveApi, worker_process: StartWorker) -> None:
    started = time.monotonic()
    worker = worker_process("TEST,POLYGON_STATS", SHOAL_IDLE_TIMEOUT_SECONDS=1)
    assert worker.popen.wait(15) == 0
    assert time.monotonic() - started < 15
    assert '"idle"' in worker.logs()
