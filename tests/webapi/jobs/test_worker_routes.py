"""The workers' protocol: through Flask's test client, and over a real threaded HTTP
server (``live_url``) where concurrency or a waiting claim matters."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.support.metrics import sample, wait_for_sample
from webapi import accounts

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _claim(client, caller, **extra):
    return client.post("/api/jobs/claim", json=CLAIM | extra, headers=caller.headers)


def test_reefguide_worker_conversation(live_url, http, make_user, submit, services) -> None:
    """The exact requests the ReefGuide worker makes: login, poll, assign, result."""
    with services.transaction() as conn:
        accounts.create_user(
            conn,
            services.passwords,
            email="worker@example.org",
            password="worker-password",
            roles=["WORKER"],
        )
    job_id = submit({"id": 42})
    login = http.post(
        f"{live_url}/api/auth/login",
        json={"email": "worker@example.org", "password": "worker-password"},
    )
    assert login.status_code == 200
    token, refresh = login.json()["token"], login.json()["refreshToken"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert {"id", "email", "roles", "exp"} <= set(claims)  # the worker decodes these
    assert claims["roles"] == ["WORKER"] and isinstance(claims["id"], str)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    polled = http.get(f"{live_url}/api/jobs/poll", headers=headers).json()["jobs"]
    assert [(j["id"], j["type"], j["input_payload"]) for j in polled] == [
        (job_id, "TEST", {"id": 42})
    ]
    assigned = http.post(
        f"{live_url}/api/jobs/assign",
        headers=headers,
        content=json.dumps(
            {
                "jobId": job_id,
                "ecsTaskArn": "arn:aws:ecs:task/1",
                "ecsClusterArn": "arn:aws:ecs:cluster/x",
            }
        ),
    )
    assert assigned.status_code == 200
    assignment = assigned.json()["assignment"]
    assert assignment["job_id"] == job_id and assignment["storage_uri"]
    assert {"id", "job_id", "storage_scheme", "storage_uri", "expires_at"} <= set(assignment)
    done = http.post(
        f"{live_url}/api/jobs/assignments/{assignment['id']}/result",
        headers=headers,
        content=json.dumps(
            {
                "status": "SUCCEEDED",
                "resultPayload": {"_perf": {"time_taken_s": 0.1, "peak_rss_mb": 12.0}},
            }
        ),
    )
    assert done.status_code == 200
    renewed = http.post(f"{live_url}/api/auth/token", json={"refreshToken": refresh})
    assert renewed.status_code == 200 and renewed.json()["token"]
    assert http.get(f"{live_url}/api/jobs/poll", headers=headers).json()["jobs"] == []


def test_twelve_concurrent_assigns_admit_exactly_one(live_url, worker, submit) -> None:
    job_id = submit({"id": 1})
    start = threading.Barrier(12)
    codes: list[int] = []

    def assign(index: int) -> None:
        with httpx.Client(timeout=30) as http:
            start.wait()
            response = http.post(
                f"{live_url}/api/jobs/assign",
                headers=worker.headers,
                json={"jobId": job_id, "ecsTaskArn": f"task-{index}", "ecsClusterArn": "c"},
            )
            codes.append(response.status_code)

    threads = [threading.Thread(target=assign, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(codes) == {200: 1, 400: 11}


def test_assign_unknown_and_taken_jobs(client, worker, submit) -> None:
    missing = client.post(
        "/api/jobs/assign",
        json={"jobId": 999, "ecsTaskArn": "t", "ecsClusterArn": "c"},
        headers=worker.headers,
    )
    assert missing.status_code == 404
    job_id = submit({"id": 1})
    body = {"jobId": job_id, "ecsTaskArn": "t", "ecsClusterArn": "c"}
    assert client.post("/api/jobs/assign", json=body, headers=worker.headers).status_code == 200
    taken = client.post("/api/jobs/assign", json=body, headers=worker.headers)
    assert taken.status_code == 400 and "not PENDING" in taken.json["message"]


def test_poll_lists_pending_oldest_first_at_most_ten(client, worker, submit) -> None:
    ids = [submit({"id": i}) for i in range(12)]
    submit(
        {"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        job_type="POLYGON_STATS",
    )
    polled = client.get("/api/jobs/poll", query_string={"jobType": "TEST"}, headers=worker.headers)
    assert [job["id"] for job in polled.json["jobs"]] == ids[:10]
    unknown = client.get("/api/jobs/poll", query_string={"jobType": "NOPE"}, headers=worker.headers)
    assert unknown.status_code == 400


def test_analysts_cannot_use_worker_routes(client, analyst) -> None:
    assert client.get("/api/jobs/poll", headers=analyst.headers).status_code == 403
    assert _claim(client, analyst).status_code == 403
    assert client.get("/api/jobs/queue", headers=analyst.headers).status_code == 403


def test_claim_answers_204_after_waiting(client, worker) -> None:
    started = time.monotonic()
    response = _claim(client, worker, waitSeconds=1)
    assert response.status_code == 204
    assert 0.9 <= time.monotonic() - started < 5


@pytest.mark.parametrize(
    "body", [{"waitSeconds": 31}, {"jobTypes": []}, {"jobTypes": ["NOPE"]}, {"ecsTaskArn": ""}]
)
def test_bad_claims_are_400(client, worker, body) -> None:
    assert _claim(client, worker, **body).status_code == 400


def test_long_poll_wakes_as_soon_as_a_job_arrives(live_url, worker, submit) -> None:
    """A claimer already waiting gets a job created after it started waiting almost at once."""
    answer: dict[str, object] = {}

    def wait_for_job() -> None:
        with httpx.Client(timeout=30) as http:
            response = http.post(
                f"{live_url}/api/jobs/claim",
                headers=worker.headers,
                json=CLAIM | {"waitSeconds": 10},
            )
            answer["at"] = time.monotonic()
            answer["response"] = response

    waiter = threading.Thread(target=wait_for_job)
    waiter.start()
    wait_for_sample(lambda: httpx.get(f"{live_url}/metrics").text, "shoal_waiting_claims", 1)
    job_id = submit({"id": 7})
    created_at = time.monotonic()
    waiter.join(timeout=15)
    response = answer["response"]
    assert response.status_code == 200 and response.json()["job"]["id"] == job_id
    latency = answer["at"] - created_at
    assert latency < 0.5, f"claim woke {latency:.3f}s after the job was created"
    assert sample(httpx.get(f"{live_url}/metrics").text, "shoal_waiting_claims") == 0


def test_heartbeat_and_result_only_for_the_holder(client, worker, api_key, submit) -> None:
    submit({"id": 1})
    other = api_key(("WORKER",)).headers
    assignment = _claim(client, worker).json["assignment"]["id"]
    path = f"/api/jobs/assignments/{assignment}"
    assert client.post(f"{path}/heartbeat", json={}, headers=other).status_code == 403
    assert (
        client.post(f"{path}/result", json={"status": "FAILED"}, headers=other).status_code == 403
    )
    assert (
        client.post(f"{path}/heartbeat", json={"progress": 1.5}, headers=worker.headers).status_code
        == 400
    )
    assert (
        client.post(
            "/api/jobs/assignments/999/heartbeat", json={}, headers=worker.headers
        ).status_code
        == 404
    )
    beat = client.post(
        f"{path}/heartbeat", json={"progress": 0.25, "message": "a quarter"}, headers=worker.headers
    )
    assert beat.status_code == 200 and beat.json["cancelled"] is False
    bad = client.post(
        f"{path}/result",
        json={"status": "SUCCEEDED", "resultPayload": {"x": 1}},
        headers=worker.headers,
    )
    assert bad.status_code == 400
    ok = client.post(
        f"{path}/result", json={"status": "SUCCEEDED", "resultPayload": {}}, headers=worker.headers
    )
    assert ok.status_code == 200 and ok.json["job"]["status"] == "SUCCEEDED"
    twice = client.post(
        f"{path}/result", json={"status": "SUCCEEDED", "resultPayload": {}}, headers=worker.headers
    )
    assert twice.status_code == 400


def test_failed_result_records_the_error(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 1, "fail": True})
    assignment = _claim(client, worker).json["assignment"]["id"]
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "FAILED", "resultPayload": None, "error": "it broke"},
        headers=worker.headers,
    )
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert (job["status"], job["error_message"]) == ("FAILED", "it broke")


def test_release_requeues_at_once(client, worker, submit) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker).json["assignment"]["id"]
    released = client.post(f"/api/jobs/assignments/{assignment}/release", headers=worker.headers)
    assert released.status_code == 200 and released.json["job"]["status"] == "PENDING"
    assert _claim(client, worker).json["job"]["id"] == job_id


def test_release_with_an_error_spends_the_attempt(client, analyst, worker, submit) -> None:
    """maxAttempts 2: the first failed hand-back requeues, the second ends the job FAILED;
    a bad body is refused and changes nothing."""
    job_id = submit({"id": 1})
    for attempt, status in ((1, "PENDING"), (2, "FAILED")):
        claimed = _claim(client, worker).json
        assert (claimed["job"]["id"], claimed["assignment"]["attempt"]) == (job_id, attempt)
        path = f"/api/jobs/assignments/{claimed['assignment']['id']}/release"
        for bad in ({"error": ""}, {"error": "x", "spend": True}, {"error": 7}):
            refused = client.post(path, json=bad, headers=worker.headers)
            assert refused.status_code == 400, refused.json
        unchanged = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
        assert unchanged["status"] == "IN_PROGRESS"
        released = client.post(path, json={"error": "disk full"}, headers=worker.headers)
        assert released.status_code == 200 and released.json["job"]["status"] == status
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert (job["status"], job["error_message"], job["attempts"]) == ("FAILED", "disk full", 2)
    assert [a["outcome"] for a in job["assignments"]] == ["FAILED", "FAILED"]


def test_expired_lease_is_swept_back_and_then_timed_out(client, analyst, worker, submit) -> None:
    """Lease 2 s, 2 attempts, a sweep every 0.5 s: two silent claims end TIMED_OUT."""
    job_id = submit({"id": 1})
    first = _claim(client, worker).json["assignment"]["id"]
    deadline = time.monotonic() + 10
    status = "IN_PROGRESS"
    while status != "PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]["status"]
    assert status == "PENDING"
    assert _claim(client, worker).status_code == 200
    late = client.post(
        f"/api/jobs/assignments/{first}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert late.status_code == 400 and "taken over" in late.json["message"]
    while status != "TIMED_OUT" and time.monotonic() < deadline + 10:
        time.sleep(0.2)
        status = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]["status"]
    assert status == "TIMED_OUT"


def test_queue_depth_and_metrics(client, worker, submit) -> None:
    for i in range(3):
        submit({"id": i})
    assignment = _claim(client, worker).json["assignment"]["id"]
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    _claim(client, worker)
    depth = client.get("/api/jobs/queue", headers=worker.headers).json["jobTypes"]
    assert depth["TEST"] == {"pending": 1, "inProgress": 1}
    assert depth["POLYGON_STATS"] == {"pending": 0, "inProgress": 0}
    text = client.get("/metrics").get_data(as_text=True)
    assert 'shoal_queue_depth{status="PENDING",type="TEST"} 1.0' in text
    assert 'shoal_jobs_finished_total{status="SUCCEEDED",type="TEST"} 1.0' in text
    assert 'shoal_claim_to_start_seconds_count{type="TEST"} 2.0' in text
    assert 'shoal_http_request_duration_seconds_count{method="POST",route="/api/jobs/claim"' in text


def test_max_jobs_claims_several_at_once_oldest_first(client, worker, submit) -> None:
    ids = [submit({"id": i}) for i in range(5)]
    batch = _claim(client, worker, maxJobs=3)
    assert batch.status_code == 200 and set(batch.json) == {"claims"}
    claims = batch.json["claims"]
    assert [c["job"]["id"] for c in claims] == ids[:3]
    assert len({c["assignment"]["id"] for c in claims}) == 3
    assert all(c["job"]["status"] == "IN_PROGRESS" for c in claims)
    rest = _claim(client, worker, maxJobs=50)
    assert [c["job"]["id"] for c in rest.json["claims"]] == ids[3:]
    assert _claim(client, worker, maxJobs=50).status_code == 204


def test_max_jobs_1_answers_the_single_job_shape(client, worker, submit) -> None:
    job_id = submit({"id": 1})
    one = _claim(client, worker, maxJobs=1)
    assert set(one.json) == {"job", "assignment"} and one.json["job"]["id"] == job_id


@pytest.mark.parametrize("max_jobs", [0, 51, "ten"])
def test_max_jobs_out_of_range_is_400(client, worker, max_jobs) -> None:
    answer = _claim(client, worker, maxJobs=max_jobs)
    assert answer.status_code == 400 and "maxJobs" in answer.json["message"]
