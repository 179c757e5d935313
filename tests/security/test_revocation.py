"""A revoked API key stops working at once, on the worker routes too, mid-assignment.

tests/webapi covers revocation on /api/auth/profile and refresh tokens revoked by
logout and change-password; these follow a worker whose key is revoked while it
holds a job, over a real HTTP server.
"""

from __future__ import annotations

import threading

import httpx

from tests.security.conftest import CLAIM, Cast, submit
from tests.support.metrics import wait_for_sample
from tests.webapi.conftest import IssuedKey


def test_a_worker_loses_its_assignment_powers_when_its_key_is_revoked(
    live_url: str, http: httpx.Client, client, cast: Cast, api_key
) -> None:
    key: IssuedKey = api_key(("WORKER",), owner_id=cast.admin.user_id)
    job_id = submit(client, cast.analyst)
    claimed = http.post(f"{live_url}/api/jobs/claim", json=CLAIM, headers=key.headers)
    assignment = claimed.json()["assignment"]["id"]
    base = f"{live_url}/api/jobs/assignments/{assignment}"
    beat = http.post(f"{base}/heartbeat", json={"progress": 0.1}, headers=key.headers)
    assert beat.status_code == 200
    revoked = http.delete(f"{live_url}/api/auth/api-keys/{key.id}", headers=cast.admin.headers)
    assert revoked.status_code == 204
    for url, body in [
        (f"{base}/heartbeat", {"progress": 0.9}),
        (f"{base}/result", {"status": "SUCCEEDED", "resultPayload": {}}),
        (f"{base}/release", None),
        (f"{live_url}/api/jobs/claim", CLAIM),
    ]:
        response = http.post(url, json=body, headers=key.headers)
        assert response.status_code == 401, url
        assert response.json() == {"message": "Invalid or revoked API key."}
    job = http.get(f"{live_url}/api/jobs/{job_id}", headers=cast.analyst.headers).json()["job"]
    assert (job["status"], job["progress"]) == ("IN_PROGRESS", 0.1)


def test_a_long_poll_of_a_revoked_key_takes_no_job(
    live_url: str, http: httpx.Client, client, cast: Cast, api_key
) -> None:
    """A claim already waiting when its key is revoked must not be handed a job."""
    key: IssuedKey = api_key(("WORKER",), owner_id=cast.admin.user_id)
    answer: dict[str, httpx.Response] = {}

    def wait_for_a_job() -> None:
        with httpx.Client(timeout=30) as waiting:
            answer["claim"] = waiting.post(
                f"{live_url}/api/jobs/claim", json=CLAIM | {"waitSeconds": 10}, headers=key.headers
            )

    waiter = threading.Thread(target=wait_for_a_job)
    waiter.start()
    wait_for_sample(lambda: http.get(f"{live_url}/metrics").text, "shoal_waiting_claims", 1)
    revoked = http.delete(f"{live_url}/api/auth/api-keys/{key.id}", headers=cast.admin.headers)
    assert revoked.status_code == 204
    job_id = submit(client, cast.analyst)
    waiter.join(timeout=15)
    assert answer["claim"].status_code == 401, answer["claim"].status_code
    job = http.get(f"{live_url}/api/jobs/{job_id}", headers=cast.analyst.headers).json()["job"]
    assert job["status"] == "PENDING" and job["assignments"] == []
