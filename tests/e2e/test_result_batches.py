"""A real worker process against the real web API (gunicorn): jobs that finish together
are reported in one request, and a result brings the next job, seen from the API's
own request counts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import LiveApi, StartApi, WorkerProcess
from tests.e2e.helpers import count, wait_for
from tests.support.metrics import sample

pytestmark = pytest.mark.slow

StartWorker = Callable[..., WorkerProcess]
REQUESTS = "shoal_http_request_duration_seconds_count"
RESULT = "/api/jobs/assignments/<int:assignment_id>/result"
RESULTS = "/api/jobs/assignments/results"
CLAIM = "/api/jobs/claim"


def _requests(api: LiveApi, route: str, status: str = "200") -> float:
    text = httpx.get(f"{api.url}/metrics").text
    return sample(text, REQUESTS, {"method": "POST", "route": route, "status": status}) or 0.0


def test_jobs_that_finish_together_are_reported_in_one_request(
    start_api: StartApi, worker_process: StartWorker
) -> None:
    api = start_api(workers=1)  # one process: its metrics count every request
    with api.client() as client:
        for n in range(4):
            client.submit_job("TEST", {"id": n, "durationSeconds": 1})
        # Four slots: the first claim takes all four, so they end within moments.
        worker_process("TEST", api, SHOAL_WORKER_CONCURRENCY=4, SHOAL_RESULT_WINDOW_SECONDS=0.5)
        wait_for(lambda: count(client, "SUCCEEDED") == 4, 60, "four jobs to succeed", 0.2)
    assert _requests(api, RESULTS) == 1
    assert _requests(api, RESULT) == 0


def test_each_result_brings_the_next_job(
    start_api: StartApi, worker_process: StartWorker
) -> None:
    api = start_api(workers=1)
    with api.client() as client:
        for n in range(3):
            client.submit_job("TEST", {"id": n, "durationSeconds": 0})
        worker_process("TEST", api)  # one slot: one job at a time
        wait_for(lambda: count(client, "SUCCEEDED") == 3, 60, "three jobs to succeed", 0.2)
        wait_for(lambda: _requests(api, RESULT) == 3, 10, "the third result's answer")
    # One claim answered with a job; the other two came with the results before them.
    assert _requests(api, CLAIM) == 1
