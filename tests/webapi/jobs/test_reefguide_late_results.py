"""ReefGuide's worker never heartbeats: its late results, replayed over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from webapi import accounts

ASSIGN_LEASE = 1


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    overrides = {"TEST": {"leaseSeconds": 2, "maxAttempts": 3, "assignLeaseSeconds": ASSIGN_LEASE}}
    return {**web_env, "SHOAL_JOB_OVERRIDES": json.dumps(overrides)}


class ReefGuideWorker:
    """The requests ReefGuide's example worker makes, byte for byte: login, poll, assign,
    result (a JSON body sent as text, as its client does)."""

    def __init__(self, http: httpx.Client, url: str, email: str, password: str) -> None:
        self.http, self.url = http, url
        login = http.post(f"{url}/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200
        self.headers = {
            "Authorization": f"Bearer {login.json()['token']}",
            "Content-Type": "application/json",
        }

    def poll(self) -> list[dict]:
        return self.http.get(f"{self.url}/api/jobs/poll", headers=self.headers).json()["jobs"]

    def assign(self, job_id: int, task: str) -> dict:
        body = {"jobId": job_id, "ecsTaskArn": task, "ecsClusterArn": "arn:aws:ecs:cluster/x"}
        answer = self._post("/api/jobs/assign", body)
        assert answer.status_code == 200, answer.text
        return answer.json()["assignment"]

    def result(self, assignment_id: int) -> httpx.Response:
        body = {"status": "SUCCEEDED", "resultPayload": {"_perf": {"time_taken_s": 9.0}}}
        return self._post(f"/api/jobs/assignments/{assignment_id}/result", body)

    def _post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", headers=self.headers, content=json.dumps(body))


@pytest.fixture
def reefguide(live_url, http, services) -> Callable[[str], ReefGuideWorker]:
    def make(email: str) -> ReefGuideWorker:
        with services.transaction() as conn:
            accounts.create_user(
                conn, services.passwords, email=email, password="pw-123456", roles=["WORKER"]
            )
        return ReefGuideWorker(http, live_url, email, "pw-123456")

    return make


def _wait_status(client, analyst, job_id: int, wanted: str, timeout: float = 15) -> None:
    """Until the sweep (every 0.5 s) moves the job to ``wanted``."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]["status"]
        if status == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {status}, not {wanted}")


def test_a_job_that_outlives_its_lease_succeeds_with_one_result(
    reefguide, client, analyst, submit, engine
) -> None:
    worker = reefguide("reef@example.org")
    job_id = submit({"id": 7})
    assert [j["id"] for j in worker.poll()] == [job_id]
    assignment = worker.assign(job_id, "arn:aws:ecs:task/1")
    _wait_status(client, analyst, job_id, "PENDING")  # the lease ran out: back in the queue
    done = worker.result(assignment["id"])
    assert done.status_code == 200, done.text
    assert done.json()["job"]["status"] == "SUCCEEDED"
    assert worker.poll() == []
    assert _result_rows(engine, job_id) == [assignment["id"]]


def test_a_late_result_after_a_takeover_is_refused(
    reefguide, client, analyst, submit, engine
) -> None:
    slow, other = reefguide("slow@example.org"), reefguide("other@example.org")
    job_id = submit({"id": 8})
    first = slow.assign(job_id, "arn:aws:ecs:task/slow")
    _wait_status(client, analyst, job_id, "PENDING")
    assert [j["id"] for j in other.poll()] == [job_id]
    second = other.assign(job_id, "arn:aws:ecs:task/other")
    late = slow.result(first["id"])
    assert late.status_code == 400 and "taken over" in late.json()["message"]
    assert other.result(second["id"]).status_code == 200
    assert _result_rows(engine, job_id) == [second["id"]]
    again = slow.result(first["id"])
    assert again.status_code == 400


def _result_rows(engine, job_id: int) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT assignment_id FROM job_results WHERE job_id = :id"), {"id": job_id}
        )
        return [row[0] for row in rows]
