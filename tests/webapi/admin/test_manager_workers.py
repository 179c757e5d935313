"""The manager's worker routes through HTTP: how long each worker has been silent, workers
declared lost (their attempts requeued, counted or not), and a fleet report that says
it is a partial view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.webapi.admin.test_local_admin import WORKERS, take_lease
from tests.webapi.conftest import IssuedKey, MakeUser

Headers = dict[str, str]
TASK = "arn:aws:ecs:us-east-1:0:task/shoal/abc"


@pytest.fixture
def manager_headers(api_key: Callable[..., IssuedKey]) -> Headers:
    return api_key(("MANAGER",)).headers


@pytest.fixture
def worker_headers(api_key: Callable[..., IssuedKey]) -> Headers:
    return api_key(("WORKER",)).headers


@pytest.fixture
def analyst_headers(make_user: MakeUser, auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(make_user(roles=("ANALYST",))[1])


def _claim(client: FlaskClient, headers: Headers, task: str = TASK) -> Any:
    body = {"jobTypes": ["TEST"], "ecsTaskArn": task, "ecsClusterArn": "c", "waitSeconds": 0}
    return client.post("/api/jobs/claim", json=body, headers=headers)


def _job(client: FlaskClient, headers: Headers, job_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200
    job: dict[str, Any] = answer.get_json()["job"]
    return job


def _submit(client: FlaskClient, headers: Headers) -> int:
    answer = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=headers
    )
    assert answer.status_code == 200
    job_id: int = answer.get_json()["jobId"]
    return job_id


def test_a_claim_is_contact_and_the_manager_reads_it(
    client: FlaskClient, manager_headers: Headers, worker_headers: Headers
) -> None:
    assert _claim(client, worker_headers).status_code == 204  # nothing to do, but heard
    answer = client.post(
        "/api/manager/workers/contacts",
        json={"workers": [TASK, "local:h:1"]},
        headers=manager_headers,
    )
    assert answer.status_code == 200
    heard, unknown = answer.get_json()["workers"]
    assert heard["taskArn"] == TASK and 0 <= heard["silentSeconds"] < 10
    assert heard["lost"] is False
    assert unknown == {"taskArn": "local:h:1", "silentSeconds": None, "lost": False}


def test_a_worker_lost_to_the_platform_gives_its_job_back_uncounted(
    client: FlaskClient,
    manager_headers: Headers,
    worker_headers: Headers,
    analyst_headers: Headers,
) -> None:
    job_id = _submit(client, analyst_headers)
    assert _claim(client, worker_headers).status_code == 200
    assert take_lease(client, manager_headers, "m1")["held"]
    lost = {"taskArn": TASK, "reason": "Spot interruption", "platform": True}
    answer = client.post(
        "/api/manager/workers/lost",
        json={"holder": "m1", "workers": [lost]},
        headers=manager_headers,
    )
    assert answer.status_code == 200
    assert answer.get_json() == {
        "workers": [{"taskArn": TASK, "requeued": [job_id], "timedOut": [], "spared": 1}]
    }
    job = _job(client, analyst_headers, job_id)
    assert job["status"] == "PENDING" and job["attempts"] == 1
    [attempt] = job["assignments"]
    assert (attempt["outcome"], attempt["lost_reason"], attempt["counted"]) == (
        "LOST",
        "Spot interruption",
        False,
    )
    contacts = client.post(
        "/api/manager/workers/contacts", json={"workers": [TASK]}, headers=manager_headers
    )
    assert contacts.get_json()["workers"][0]["lost"] is True


BAD_LOSSES = [
    ({"workers": [{"taskArn": TASK, "reason": "x", "platform": True}]}, "holder"),
    ({"holder": "m1", "workers": []}, "workers"),
    ({"holder": "m1", "workers": [{"taskArn": TASK, "reason": "x"}]}, "workers.0.platform"),
    ({"holder": "m1", "workers": [{"taskArn": TASK, "reason": "", "platform": True}]}, None),
    ({"holder": "m1", "workers": [{"taskArn": "", "reason": "x", "platform": True}]}, None),
    (
        {"holder": "m1", "workers": [{"taskArn": TASK, "reason": "x" * 501, "platform": True}]},
        "workers.0.reason",
    ),
    (
        {"holder": "m1", "workers": [{"taskArn": TASK, "reason": "x", "platform": "yes"}]},
        "workers.0.platform",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_LOSSES)
def test_a_bad_loss_report_is_400_and_changes_nothing(
    client: FlaskClient,
    manager_headers: Headers,
    worker_headers: Headers,
    analyst_headers: Headers,
    body: dict[str, Any],
    field: str | None,
) -> None:
    job_id = _submit(client, analyst_headers)
    assert _claim(client, worker_headers).status_code == 200
    assert take_lease(client, manager_headers, "m1")["held"]
    answer = client.post("/api/manager/workers/lost", json=body, headers=manager_headers)
    assert answer.status_code == 400
    if field is not None:
        assert field in answer.get_json()["errors"]
    assert _job(client, analyst_headers, job_id)["status"] == "IN_PROGRESS"


def test_only_the_lease_holder_declares_workers_lost(
    client: FlaskClient,
    manager_headers: Headers,
    worker_headers: Headers,
    analyst_headers: Headers,
    api_key: Callable[..., IssuedKey],
) -> None:
    job_id = _submit(client, analyst_headers)
    assert _claim(client, worker_headers).status_code == 200
    assert take_lease(client, manager_headers, "m1")["held"]
    other = api_key(("MANAGER",)).headers
    lost = {"holder": "m1", "workers": [{"taskArn": TASK, "reason": "x", "platform": True}]}
    for caller, holder in ((other, "m1"), (manager_headers, "m2")):
        body = {**lost, "holder": holder}
        answer = client.post("/api/manager/workers/lost", json=body, headers=caller)
        assert answer.status_code == 403
    for caller in (worker_headers, analyst_headers):
        assert (
            client.post("/api/manager/workers/lost", json=lost, headers=caller).status_code == 403
        )
        contacts = {"workers": [TASK]}
        answer = client.post("/api/manager/workers/contacts", json=contacts, headers=caller)
        assert answer.status_code == 403
    assert _job(client, analyst_headers, job_id)["status"] == "IN_PROGRESS"


def stale_report(seconds_ago: float, error: str) -> tuple[dict[str, Any], str]:
    """A stale fleet report of the holder m1, last read ``seconds_ago``; and that time."""
    read_at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    report = {
        "holder": "m1",
        "workers": WORKERS,
        "stale": True,
        "readAt": read_at.isoformat(),
        "error": error,
    }
    return report, read_at.isoformat().replace("+00:00", "Z")


def test_a_stale_fleet_report_says_how_old_its_view_is(
    client: FlaskClient,
    manager_headers: Headers,
    admin: tuple[int, str],
    auth_headers: Callable[[str], Headers],
) -> None:
    admin_headers = auth_headers(admin[1])
    assert take_lease(client, manager_headers, "m1")["held"]
    report, read_at = stale_report(42, "ListTasks: Connection was closed")
    answer = client.put("/api/manager/fleet", json=report, headers=manager_headers)
    assert answer.status_code == 200
    fleet = client.get("/api/admin/workers", headers=admin_headers).get_json()
    assert fleet["workers"] == WORKERS
    assert fleet["stale"] is True and fleet["error"] == "ListTasks: Connection was closed"
    assert fleet["readAt"] == read_at
    assert 42 <= fleet["ageSeconds"] < 60
    fresh = {"holder": "m1", "workers": [], "readAt": datetime.now(UTC).isoformat()}
    assert client.put("/api/manager/fleet", json=fresh, headers=manager_headers).status_code == 200
    fleet = client.get("/api/admin/workers", headers=admin_headers).get_json()
    assert (fleet["stale"], fleet["error"]) == (False, None)
    assert 0 <= fleet["ageSeconds"] < 10


def test_a_bad_read_time_is_400(client: FlaskClient, manager_headers: Headers) -> None:
    assert take_lease(client, manager_headers, "m1")["held"]
    report = {"holder": "m1", "workers": [], "stale": True, "readAt": "yesterday"}
    answer = client.put("/api/manager/fleet", json=report, headers=manager_headers)
    assert answer.status_code == 400 and "readAt" in answer.get_json()["errors"]
