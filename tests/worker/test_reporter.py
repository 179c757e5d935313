"""ResultReporter against the web API over real HTTP: results submitted together go in
one request, each answered on its own, and the claims that come with them are handed on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.client import ApiError, Claim, claim_body
from tests.support.metrics import sample
from tests.worker.conftest import InProcessApi
from worker.reporter import ResultReporter

REQUESTS = "shoal_http_request_duration_seconds_count"


def _requests(api: InProcessApi, route: str) -> float:
    text = httpx.get(f"{api.url}/metrics").text
    labels = {"method": "POST", "route": route, "status": "200"}
    return sample(text, REQUESTS, labels) or 0.0


def test_results_submitted_together_share_one_request(api: InProcessApi) -> None:
    with api.client() as analyst, api.client(api.worker_key) as worker:
        for n in range(4):
            analyst.submit_job("TEST", {"id": n})
        claims = worker.claim_many(["TEST"], task_arn="t", cluster_arn="c", max_jobs=3)
        taken: list[tuple[list[Claim], list[int]]] = []
        arrived = threading.Barrier(3)
        reporter = ResultReporter(
            worker,
            window=30.0,  # ended by the third result filling the request, not the clock
            max_results=3,
            next_claim=lambda n: claim_body(["TEST"], "t", "c", 0, n),
            take_claims=lambda claims, finished: taken.append((claims, finished)),
        )

        def submit(index: int) -> object:
            arrived.wait()
            claim = claims[index]
            payload = {"unexpected": 1} if index == 1 else {}
            try:
                return reporter.submit(claim.assignment_id, "SUCCEEDED", payload)
            except ApiError as error:
                return error

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(submit, range(3)))
    assert answers[0]["job"]["status"] == "SUCCEEDED"
    assert isinstance(answers[1], ApiError) and answers[1].status == 400
    assert "resultPayload.unexpected" in answers[1].errors
    assert answers[2]["job"]["status"] == "SUCCEEDED"
    assert _requests(api, "/api/jobs/assignments/results") == 1
    assert _requests(api, "/api/jobs/assignments/<int:assignment_id>/result") == 0
    [(next_claims, finished)] = taken
    assert sorted(finished) == sorted(c.assignment_id for c in claims)
    assert len(next_claims) == 1  # the one job left of four
