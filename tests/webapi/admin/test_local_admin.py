"""Admin compute routes on the local backend, and the manager's routes, through HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.webapi.conftest import IssuedKey, MakeUser
from webapi.services import Services
from webapi.store.queue_history import activity

Headers = dict[str, str]

WORKERS = [
    {
        "taskArn": "local:h:1",
        "jobTypes": ["TEST"],
        "status": "RUNNING",
        "startedAt": "2030-01-01T00:00:00Z",
    },
    {
        "taskArn": "local:h:2",
        "jobTypes": ["TEST"],
        "status": "STARTING",
        "startedAt": "2030-01-01T00:00:01Z",
    },
    {
        "taskArn": "local:h:3",
        "jobTypes": ["POLYGON_STATS"],
        "status": "RUNNING",
        "startedAt": "2030-01-01T00:00:02Z",
    },
]


@pytest.fixture
def admin_headers(admin: tuple[int, str], auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(admin[1])


@pytest.fixture
def manager_headers(api_key: Callable[..., IssuedKey]) -> Headers:
    return api_key(("MANAGER",)).headers


def take_lease(
    client: FlaskClient, headers: Headers, holder: str, ttl: float = 30
) -> dict[str, Any]:
    answer = client.post(
        "/api/manager/lease", json={"holder": holder, "ttlSeconds": ttl}, headers=headers
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.get_json()
    return body


def config(client: FlaskClient, headers: Headers) -> dict[str, Any]:
    answer = client.get("/api/manager/config", headers=headers)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.get_json()
    return body


def test_scale_stores_desired_count_for_the_manager(
    client: FlaskClient, admin_headers: Headers, manager_headers: Headers
) -> None:
    assert config(client, manager_headers) == {"desiredCount": 10, "generation": 0}
    answer = client.post("/api/admin/scale", json={"desiredCount": 0}, headers=admin_headers)
    assert answer.status_code == 200 and answer.get_json()["desiredCount"] == 0
    assert config(client, manager_headers)["desiredCount"] == 0
    status = client.get("/api/admin/status", headers=admin_headers).get_json()
    assert status["desiredCount"] == 0
    assert "paused" in status["events"][0]["message"]


BAD_SCALES = [
    {"desiredCount": 11},
    {"desiredCount": -1},
    {"desiredCount": "3"},
    {},
    {"desiredCount": 2, "x": 1},
]


def test_scale_out_of_range_is_400_and_changes_nothing(
    client: FlaskClient, admin_headers: Headers, manager_headers: Headers
) -> None:
    for body in BAD_SCALES:
        answer = client.post("/api/admin/scale", json=body, headers=admin_headers)
        assert answer.status_code == 400, body
        errors = answer.get_json()["errors"]
        assert "desiredCount" in errors or "x" in errors
    assert config(client, manager_headers)["desiredCount"] == 10


def test_redeploy_bumps_the_generation(
    client: FlaskClient, admin_headers: Headers, manager_headers: Headers
) -> None:
    for expected in (1, 2):
        answer = client.post("/api/admin/redeploy", headers=admin_headers)
        assert answer.status_code == 200 and answer.get_json()["generation"] == expected
    assert config(client, manager_headers)["generation"] == 2
    events = client.get("/api/admin/status", headers=admin_headers).get_json()["events"]
    assert [e["message"] for e in events] == ["redeploy: generation 2", "redeploy: generation 1"]


def test_events_keep_the_last_five(client: FlaskClient, admin_headers: Headers) -> None:
    for n in range(7):
        client.post("/api/admin/scale", json={"desiredCount": n}, headers=admin_headers)
    events = client.get("/api/admin/status", headers=admin_headers).get_json()["events"]
    assert [e["message"] for e in events] == [f"desiredCount set to {n}" for n in (6, 5, 4, 3, 2)]


def test_workers_and_status_reflect_the_reported_fleet(
    client: FlaskClient, admin_headers: Headers, manager_headers: Headers
) -> None:
    assert client.get("/api/admin/workers", headers=admin_headers).get_json()["workers"] == []
    before = client.get("/api/admin/status", headers=admin_headers).get_json()
    assert before["serviceStatus"] == "INACTIVE" and before["runningCount"] == 0

    assert take_lease(client, manager_headers, "m1")["held"]
    body = {"holder": "m1", "workers": WORKERS, "failedTasks": 2}
    answer = client.put("/api/manager/fleet", json=body, headers=manager_headers)
    assert answer.status_code == 200 and answer.get_json() == {"workers": 3}

    fleet = client.get("/api/admin/workers", headers=admin_headers).get_json()
    assert fleet["workers"] == WORKERS and fleet["stale"] is False
    status = client.get("/api/admin/status", headers=admin_headers).get_json()
    assert set(status) == {
        "runningCount",
        "pendingCount",
        "desiredCount",
        "deployments",
        "events",
        "serviceStatus",
    }
    assert (status["runningCount"], status["pendingCount"], status["serviceStatus"]) == (
        2,
        1,
        "ACTIVE",
    )
    assert fleet["maxWorkers"] == status["desiredCount"] == 10  # local: a cap
    [deployment] = status["deployments"]
    assert set(deployment) == {
        "status",
        "taskDefinition",
        "desiredCount",
        "pendingCount",
        "runningCount",
        "failedTasks",
        "rolloutState",
        "rolloutStateReason",
    }
    assert deployment["failedTasks"] == 2 and deployment["rolloutState"] == "COMPLETED"


def test_each_fleet_report_keeps_its_minutes_largest_size(
    client: FlaskClient, manager_headers: Headers, services: Services
) -> None:
    assert take_lease(client, manager_headers, "m1")["held"]

    def report(holder: str, workers: list[dict[str, str]]) -> int:
        body = {"holder": holder, "workers": workers}
        return client.put("/api/manager/fleet", json=body, headers=manager_headers).status_code

    assert report("m1", WORKERS) == report("m1", WORKERS[:1]) == 200
    assert activity(services.engine).workers[-1] == 3
    assert report("not-the-holder", WORKERS * 2) == 403
    assert activity(services.engine).workers[-1] == 3


def test_a_bad_fleet_report_is_400(client: FlaskClient, manager_headers: Headers) -> None:
    bad = {"holder": "m1", "workers": [{**WORKERS[0], "status": "EXPLODED"}]}
    answer = client.put("/api/manager/fleet", json=bad, headers=manager_headers)
    assert answer.status_code == 400 and "workers.0.status" in answer.get_json()["errors"]


ADMIN_CALLS = [
    ("get", "/api/admin/status", None),
    ("post", "/api/admin/scale", {"desiredCount": 1}),
    ("post", "/api/admin/redeploy", None),
    ("get", "/api/admin/workers", None),
]


def test_admin_routes_refuse_everyone_else(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Callable[[str], Headers],
    manager_headers: Headers,
) -> None:
    analyst = auth_headers(make_user(roles=("ANALYST",))[1])
    for method, path, body in ADMIN_CALLS:
        call = getattr(client, method)
        assert call(path, json=body).status_code == 401, path
        assert call(path, json=body, headers=analyst).status_code == 403, path
        assert call(path, json=body, headers=manager_headers).status_code == 403, path
    assert config(client, manager_headers) == {"desiredCount": 10, "generation": 0}


def test_manager_routes_need_the_manager_role(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Callable[[str], Headers],
    api_key: Callable[..., IssuedKey],
) -> None:
    analyst = auth_headers(make_user(roles=("ANALYST",))[1])
    worker = api_key(("WORKER",)).headers
    lease = {"holder": "x", "ttlSeconds": 10}
    fleet = {"holder": "x", "workers": []}
    for caller in (analyst, worker):
        assert client.post("/api/manager/lease", json=lease, headers=caller).status_code == 403
        assert client.delete("/api/manager/lease?holder=x", headers=caller).status_code == 403
        assert client.get("/api/manager/config", headers=caller).status_code == 403
        assert client.put("/api/manager/fleet", json=fleet, headers=caller).status_code == 403


def test_lease_is_held_by_one_holder_at_a_time(
    client: FlaskClient, manager_headers: Headers
) -> None:
    def take(holder: str) -> dict[str, Any]:
        return take_lease(client, manager_headers, holder)

    first = take("a")
    assert first["held"] and first["holder"] == "a" and first["expiresAt"].endswith("Z")
    assert take("b") == {"held": False, "holder": "a", "expiresAt": first["expiresAt"]}
    renewed = take("a")
    assert renewed["held"] and renewed["expiresAt"] >= first["expiresAt"]

    gone = client.delete("/api/manager/lease?holder=b", headers=manager_headers)
    assert gone.get_json() == {"released": False}  # b never had it
    assert client.delete("/api/manager/lease?holder=a", headers=manager_headers).get_json() == {
        "released": True
    }
    assert take("b")["held"]


def test_lease_body_is_validated(client: FlaskClient, manager_headers: Headers) -> None:
    answer = client.post(
        "/api/manager/lease", json={"holder": "a", "ttlSeconds": 0}, headers=manager_headers
    )
    assert answer.status_code == 400 and "ttlSeconds" in answer.get_json()["errors"]
    assert client.delete("/api/manager/lease", headers=manager_headers).status_code == 400


def test_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/admin/status",
        "/api/admin/scale",
        "/api/admin/redeploy",
        "/api/admin/workers",
        "/api/manager/lease",
        "/api/manager/fleet",
        "/api/manager/config",
    ):
        assert path in paths
    assert "400" in paths["/api/admin/scale"]["post"]["responses"]
