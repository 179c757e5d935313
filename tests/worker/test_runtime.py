"""The worker loop against the real web API (in this process, over real HTTP)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.client import ShoalClient
from shared.enums import WorkerExit
from tests.e2e.helpers import job_in, wait_for
from tests.support.metrics import sample, wait_for_sample
from tests.worker.conftest import InProcessApi, RunningWorker
from worker.context import JobContext
from worker.geodesy import polygon_stats
from worker.handlers import HandlerRegistry

StartWorker = Callable[..., RunningWorker]
REEF = {
    "type": "Polygon",
    "coordinates": [
        [[145.0, -17.0], [146.0, -17.0], [146.0, -16.0], [145.0, -16.0], [145.0, -17.0]]
    ],
}


def _terminal(client: ShoalClient, job_id: int) -> dict[str, Any] | None:
    return job_in(client, job_id, "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")


def test_runs_both_types_uploads_and_exits_when_idle(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client:
        test_id = client.submit_job("TEST", {"id": 1, "durationSeconds": 0.3})["jobId"]
        stats_id = client.submit_job("POLYGON_STATS", {"polygon": REEF})["jobId"]
        running = start_worker(SHOAL_WORKER_CONCURRENCY=2, SHOAL_IDLE_TIMEOUT_SECONDS=1.5)
        assert running.wait(20) == 0  # idle after both jobs: exit 0
        test_job, stats_job = client.get_job(test_id), client.get_job(stats_id)
        stats_files = client.download_urls(stats_id)["files"]
    assert (test_job["status"], stats_job["status"]) == ("SUCCEEDED", "SUCCEEDED")
    [assignment] = stats_job["assignments"]
    expected = polygon_stats(REEF).to_payload()
    assert assignment["result"]["result_payload"] == expected
    assert sorted(stats_files) == ["polygon.geojson", "stats.json"]
    stored = api.storage_dir / "test" / str(test_id) / "attempt-1" / "result.json"
    assert json.loads(stored.read_text()) == {"id": 1, "durationSeconds": 0.3}
    assert test_job["progress"] == pytest.approx(1.0)


def test_failures_are_reported_with_their_message(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    handlers = HandlerRegistry()

    @handlers.handler("TEST")
    def run(ctx: JobContext) -> dict[str, Any]:
        if ctx.input["id"] == 1:
            raise RuntimeError("the model diverged")
        return {"unexpected": True}  # TEST's result schema is {}

    handlers.register("POLYGON_STATS", run)
    with api.client() as client:
        crashed = client.submit_job("TEST", {"id": 1})["jobId"]
        invalid = client.submit_job("TEST", {"id": 2})["jobId"]
        start_worker(handlers=handlers)
        first = wait_for(lambda: _terminal(client, crashed), 15, "the first job to end")
        second = wait_for(lambda: _terminal(client, invalid), 15, "the second job to end")
    assert (first["status"], first["error_message"]) == ("FAILED", "the model diverged")
    assert second["status"] == "FAILED"
    assert "resultPayload" in second["error_message"]


def test_fail_true_fails_the_test_job(api: InProcessApi, start_worker: StartWorker) -> None:
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 5, "fail": True})["jobId"]
        start_worker()
        job = wait_for(lambda: _terminal(client, job_id), 15, "the job to end")
    assert job["status"] == "FAILED"
    assert "on purpose" in job["error_message"]
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "FAILED" and assignment["result"] is None


def test_a_cancel_reaches_the_running_handler(api: InProcessApi, start_worker: StartWorker) -> None:
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 7, "durationSeconds": 60})["jobId"]
        running = start_worker(SHOAL_IDLE_TIMEOUT_SECONDS=0.5)
        wait_for(lambda: job_in(client, job_id, "IN_PROGRESS"), 10, "the job to start")
        cancelled_at = time.monotonic()
        client.cancel_job(job_id)
        # The lease is 3 s, so a heartbeat comes within a second; then the worker idles out.
        assert running.wait(10) == 0
        stopped_after = time.monotonic() - cancelled_at
        job = client.get_job(job_id)
    assert stopped_after < 4
    assert job["status"] == "CANCELLED"
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "CANCELLED" and assignment["result"] is None


def test_a_stop_past_the_grace_period_releases_the_job(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 8, "durationSeconds": 60})["jobId"]
        running = start_worker(SHOAL_GRACE_SECONDS=0.5)
        wait_for(lambda: job_in(client, job_id, "IN_PROGRESS"), 10, "the job to start")
        stopped_at = time.monotonic()
        running.worker.stop("signal")
        assert running.wait(8) == 0
        took = time.monotonic() - stopped_at
        job = client.get_job(job_id)
    assert 0.5 <= took < 4
    assert job["status"] == "PENDING"
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "RELEASED"


def test_a_stop_lets_a_short_job_finish(
    api: InProcessApi, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.job")
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 9, "durationSeconds": 1})["jobId"]
        running = start_worker(SHOAL_GRACE_SECONDS=10)
        # Started by the worker, not only claimed: a claim still on its way when the stop
        # comes is handed back at once, as it should be.
        wait_for(
            lambda: any(getattr(r, "action", None) == "job_started" for r in caplog.records),
            10,
            "the worker to start the job",
        )
        running.worker.stop("signal")
        assert running.wait(8) == 0
        job = client.get_job(job_id)
    assert job["status"] == "SUCCEEDED"


def test_refused_credentials_end_the_worker_as_a_failed_start(
    api: InProcessApi, start_worker: StartWorker, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    running = start_worker(SHOAL_API_KEY="not-a-key", SHOAL_READY_FILE=ready)
    assert running.wait(10) == WorkerExit.START_FAILED
    assert not ready.exists()


def test_the_ready_file_appears_once_the_api_answered_a_claim(
    api: InProcessApi, start_worker: StartWorker, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    running = start_worker(SHOAL_READY_FILE=ready, SHOAL_CLAIM_WAIT_SECONDS=10)
    wait_for(ready.exists, 10, "the ready file")
    started = time.monotonic()
    running.worker.stop("signal")  # idle, in a 10 s long poll: it exits at once
    assert running.wait(5) == 0
    assert time.monotonic() - started < 2


def test_signed_links_and_events_through_the_api(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 11, "durationSeconds": 2.5})["jobId"]
        start_worker(SHOAL_HEARTBEAT_SECONDS=0.5)
        events = list(client.events(job_id, read_timeout=10))
        links = client.download_urls(job_id, expiry_seconds=60)["files"]
    statuses = [e["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses[0] in ("PENDING", "IN_PROGRESS") and statuses[-1] == "SUCCEEDED"
    progress = [e["data"]["progress"] for e in events if e["event"] == "progress"]
    assert progress and progress == sorted(progress) and 0 < progress[0] < 1
    assert list(links) == ["result.json"]
    response = httpx.get(links["result.json"])
    assert response.status_code == 200
    assert json.loads(response.content) == {"id": 11, "durationSeconds": 2.5}
    tampered = links["result.json"].replace("signature=", "signature=0")
    assert httpx.get(tampered).status_code == 403


def _claims_run(api: InProcessApi, outcome: str) -> float:
    body = httpx.get(f"{api.url}/metrics", timeout=10).text
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(f'shoal_claims_run_total{{outcome="{outcome}"}}')
    ]
    return sum(found)


def test_free_slots_are_filled_by_one_claim(api: InProcessApi, start_worker: StartWorker) -> None:
    with api.client() as client:
        ids = [
            client.submit_job("TEST", {"id": n, "durationSeconds": 1})["jobId"] for n in range(3)
        ]
        before = _claims_run(api, "job")
        running = start_worker(SHOAL_WORKER_CONCURRENCY=3, SHOAL_IDLE_TIMEOUT_SECONDS=1)
        assert running.wait(30) == 0
        jobs = [client.get_job(job_id) for job_id in ids]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3
    # One claim (maxJobs 3) took all three, in one statement (one now()): side by side.
    assert _claims_run(api, "job") - before == 1
    assert len({job["assignments"][0]["created_at"] for job in jobs}) == 1


def test_a_stopping_worker_cuts_its_waiting_claim_off(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    """Its process lives on (embedded, or finishing other jobs), yet the API takes no job
    for the claim it leaves: the connection closes at the stop."""

    def metrics() -> str:
        return httpx.get(f"{api.url}/metrics", timeout=10).text

    def skipped() -> float | None:
        return sample(metrics(), "shoal_claims_for_gone_clients_total", {"stage": "skipped"})

    running = start_worker(SHOAL_CLAIM_WAIT_SECONDS=20)
    wait_for_sample(metrics, "shoal_waiting_claims", 1)
    running.worker.stop("signal")
    assert running.wait(8) == 0
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 10})["jobId"]
        wait_for(lambda: skipped() or client.get_job(job_id)["assignments"], 10, "the claim")
        job = client.get_job(job_id)
    assert skipped() == 1
    assert job["status"] == "PENDING" and job["assignments"] == []
    assert not running.worker.claimer.is_alive()
