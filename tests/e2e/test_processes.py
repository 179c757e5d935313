"""The web API on several processes: NOTIFY wakes a claim waiting in another process, and
``/metrics`` counts what every gunicorn process did.

The claim re-check is 60 s here (the other e2e tests use 0.5 s): a claim woken in time
was woken by the notification, not by polling.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import StartApi
from tests.support.metrics import sample, wait_for_sample

pytestmark = pytest.mark.slow

SLOW_RECHECK = {"SHOAL_CLAIM_RECHECK_SECONDS": "60"}
CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def test_a_job_submitted_to_one_api_wakes_a_claim_waiting_in_another(
    start_api: StartApi,
) -> None:
    waiting_api = start_api(workers=1, **SLOW_RECHECK)
    other_api = start_api(workers=1, **SLOW_RECHECK)
    headers = {"X-API-Key": waiting_api.worker_key}
    answer: dict[str, object] = {}

    def claim() -> None:
        with httpx.Client(timeout=60) as http:
            answer["response"] = http.post(
                f"{waiting_api.url}/api/jobs/claim",
                json=CLAIM | {"waitSeconds": 20},
                headers=headers,
            )
            answer["at"] = time.monotonic()

    waiter = threading.Thread(target=claim)
    waiter.start()
    scrape = lambda: httpx.get(f"{waiting_api.url}/metrics").text  # noqa: E731
    wait_for_sample(scrape, "shoal_waiting_claims", 1)
    with other_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
    submitted = time.monotonic()
    waiter.join(30)
    response = answer["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200, "the waiting claim was never woken"
    assert response.json()["job"]["id"] == job_id
    woke_after = float(answer["at"]) - submitted  # type: ignore[arg-type]
    assert woke_after < 10, f"woken {woke_after:.1f} s after the job was submitted"
    assert sample(scrape(), "shoal_waiting_claims") == 0


def _pids_with(directory: Path, kind: str) -> set[str]:
    """The processes that wrote metrics of ``kind`` (prometheus-client's file per pid)."""
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob(f"{kind}_*.db")}


def test_metrics_are_summed_over_every_gunicorn_process(
    start_api: StartApi, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    api = start_api(workers=2, PROMETHEUS_MULTIPROC_DIR=metrics_dir, **SLOW_RECHECK)
    queue, headers = f"{api.url}/api/jobs/queue", {"X-API-Key": api.worker_key}
    sent = 0
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(8) as pool:
        # Until both processes have answered some (each writes its own histogram file).
        deadline = time.monotonic() + 30
        while len(_pids_with(metrics_dir, "histogram")) < 2:
            assert time.monotonic() < deadline, "one process answered every request"
            answers = list(pool.map(lambda _: http.get(queue, headers=headers), range(16)))
            assert {a.status_code for a in answers} == {200}
            sent += len(answers)
        text = http.get(f"{api.url}/metrics").text
        route = {"method": "GET", "route": "/api/jobs/queue", "status": "200"}
        assert sample(text, "shoal_http_request_duration_seconds_count", route) == sent
        # The waiting-claims gauge is a sum over the live processes too.
        claim = f"{api.url}/api/jobs/claim"
        claims = [
            pool.submit(http.post, claim, json=CLAIM | {"waitSeconds": 5}, headers=headers)
            for _ in range(3)
        ]
        scrape = lambda: http.get(f"{api.url}/metrics").text  # noqa: E731
        wait_for_sample(scrape, "shoal_waiting_claims", 3)
        assert [c.result().status_code for c in claims] == [204, 204, 204]
        assert sample(scrape(), "shoal_waiting_claims") == 0
