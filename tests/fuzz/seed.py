"""Rows for the fuzzer to hit: three callers, jobs in every state, a polygon, a note,
and for many operations one request known to succeed (a fuzzer seldom guesses a
valid GeoJSON polygon or a job type's payload)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.conftest import PASSWORD, IssuedKey, MakeUser

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
LOG_LINE = {
    "seq": 0, "time": "2026-11-30T01:00:00Z", "level": "INFO", "stream": "stdout", "message": "m"
}  # fmt: skip
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


@dataclass
class Seeded:
    """Credentials of each role, ids of seeded rows, and known-good requests.

    ``pins`` maps a path parameter's name to seeded ids; ``requests`` maps an
    operation's label to ``as_strategy`` arguments (path parameters, query, body).
    """

    headers: dict[str, dict[str, str]]
    pins: dict[str, list[Any]] = field(default_factory=dict)
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.json
    return response.json


def _finish_with_file(client: FlaskClient, worker: dict[str, str]) -> tuple[int, int]:
    """Claim the oldest TEST job, write a result file, report success."""
    claimed = _ok(client.post("/api/jobs/claim", json=CLAIM, headers=worker))
    assignment = claimed["assignment"]
    directory = Path(urlsplit(assignment["storage_uri"]).path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "result.json").write_text("{}")
    done = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker,
    )
    _ok(done)
    return claimed["job"]["id"], assignment["id"]


def _signed_link(client: FlaskClient, job_id: int, analyst: dict[str, str]) -> dict[str, Any]:
    """``as_strategy`` arguments for the signed local link to the job's result file."""
    files = _ok(client.get(f"/api/jobs/{job_id}/download", headers=analyst))["files"]
    url = urlsplit(files["result.json"])
    relative = url.path.removeprefix("/api/storage/local/")
    return {"path_parameters": {"relative_path": relative}, "query": dict(parse_qsl(url.query))}


def seed(
    app: Flask,
    make_user: MakeUser,
    api_key: Callable[..., IssuedKey],
    auth_headers: Callable[[str], dict[str, str]],
) -> Seeded:
    client = app.test_client()
    admin_id, admin_token = make_user("admin@example.org", ("ADMIN",))
    analyst_id, analyst_token = make_user("analyst@example.org", ("ANALYST",))
    worker_key = api_key(("WORKER",), owner_id=admin_id)
    admin, analyst = auth_headers(admin_token), auth_headers(analyst_token)
    worker = worker_key.headers
    new_job = {"type": "TEST", "inputPayload": {}}
    jobs = [
        _ok(client.post("/api/jobs", json=new_job | {"inputPayload": {"id": i}}, headers=analyst))
        for i in range(4)
    ]
    job_ids = [job["jobId"] for job in jobs]
    finished, finished_assignment = _finish_with_file(client, worker)  # job_ids[0]
    batch = {"type": "TEST", "inputs": [{"id": 0}, {"id": 50}]}  # a finished job and a new one
    created = client.post("/api/jobs/batch", json=batch, headers=analyst)
    assert created.status_code == 201, created.json
    batch_id = created.json["batchId"]
    running = _ok(client.post("/api/jobs/claim", json=CLAIM, headers=worker))["assignment"]["id"]
    logs = {"lines": [LOG_LINE]}  # a job with a log to read
    _ok(client.post(f"/api/jobs/assignments/{running}/logs", json=logs, headers=worker))
    _ok(client.post(f"/api/jobs/{job_ids[3]}/cancel", headers=analyst))
    polygon_id = _ok(client.post("/api/polygons", json={"polygon": SQUARE}, headers=analyst))[
        "polygon"
    ]["id"]
    note_id = _ok(
        client.post("/api/notes", json={"content": "n", "polygonId": polygon_id}, headers=analyst)
    )["note"]["id"]
    approval = _ok(
        client.post(
            "/api/users/pre-approved",
            json={"email": "later@example.org", "roles": ["ANALYST"]},
            headers=admin,
        )
    )["preApprovedUser"]["id"]
    refresh = _ok(
        client.post("/api/auth/login", json={"email": "analyst@example.org", "password": PASSWORD})
    )["refreshToken"]
    return Seeded(
        headers={
            "ADMIN": admin,
            "ANALYST": analyst,
            "WORKER": worker,
            "MANAGER": api_key(("MANAGER",), owner_id=admin_id).headers,
        },
        pins={
            "job_id": job_ids,
            "batch_id": [batch_id],
            "assignment_id": [running, finished_assignment],
            "polygon_id": [polygon_id],
            "item_id": [polygon_id, note_id],
            "user_id": [admin_id, analyst_id],
            "key_id": [worker_key.id],
            "approval_id": [approval],
        },
        requests=_known_good(
            pending=job_ids[2],
            running=running,
            polygon_id=polygon_id,
            refresh=refresh,
            link=_signed_link(client, finished, analyst),
        ),
    )


def _known_good(
    *, pending: int, running: int, polygon_id: int, refresh: str, link: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """One or two requests per operation that succeed when sent by a role allowed to."""
    at_running = {"assignment_id": running}
    worker_report = {"taskArn": "t", "jobTypes": ["TEST"], "status": "RUNNING"}
    return {
        "POST /api/auth/login": [{"body": {"email": "analyst@example.org", "password": PASSWORD}}],
        "POST /api/auth/token": [{"body": {"refreshToken": refresh}}],
        "POST /api/auth/logout": [{"body": {"refreshToken": refresh}}],
        "POST /api/auth/api-keys": [{"body": {"name": "fuzz", "roles": ["WORKER"]}}],
        "POST /api/users": [
            {"body": {"email": "new@example.org", "password": PASSWORD, "roles": ["ANALYST"]}}
        ],
        "POST /api/users/pre-approved": [
            {"body": {"email": "pre@example.org", "roles": ["ANALYST"]}}
        ],
        "POST /api/polygons": [{"body": {"polygon": SQUARE}}],
        "PUT /api/polygons/{polygon_id}": [
            {"path_parameters": {"polygon_id": polygon_id}, "body": {"polygon": SQUARE}}
        ],
        "POST /api/notes": [{"body": {"content": "fuzz", "polygonId": polygon_id}}],
        "POST /api/jobs": [
            {"body": {"type": "TEST", "inputPayload": {"id": 100}}},
            {"body": {"type": "POLYGON_STATS", "inputPayload": {"polygon": SQUARE}}},
        ],
        "POST /api/jobs/batch": [{"body": {"type": "TEST", "inputs": [{"id": 200}, {"id": 201}]}}],
        "POST /api/jobs/invalidate-cache": [{"body": {"jobType": "TEST"}}],
        "POST /api/jobs/claim": [{"body": CLAIM | {"waitSeconds": 0}}],
        "POST /api/jobs/assign": [
            {"body": {"jobId": pending, "ecsTaskArn": "t", "ecsClusterArn": "c"}}
        ],
        "POST /api/jobs/assignments/{assignment_id}/heartbeat": [
            {"path_parameters": at_running, "body": {"progress": 0.5, "message": "half"}}
        ],
        "POST /api/jobs/assignments/{assignment_id}/result": [
            {"path_parameters": at_running, "body": {"status": "SUCCEEDED", "resultPayload": {}}}
        ],
        "POST /api/jobs/assignments/{assignment_id}/release": [{"path_parameters": at_running}],
        "POST /api/jobs/assignments/{assignment_id}/logs": [
            {"path_parameters": at_running, "body": {"lines": [LOG_LINE | {"seq": 1}]}}
        ],
        "GET /api/storage/local/{relative_path}": [link],
        "POST /api/admin/scale": [{"body": {"desiredCount": 2}}],
        "POST /api/manager/lease": [{"body": {"holder": "fuzz", "ttlSeconds": 5}}],
        "DELETE /api/manager/lease": [{"query": {"holder": "fuzz"}}],
        "PUT /api/manager/fleet": [
            {
                "body": {
                    "holder": "fuzz",
                    "workers": [worker_report | {"startedAt": "2024-01-01T00:00:00Z"}],
                }
            }
        ],
        "POST /api/manager/workers/contacts": [{"body": {"workers": ["local:fuzz:1"]}}],
        "POST /api/manager/workers/lost": [
            {
                "body": {
                    "holder": "fuzz",
                    "workers": [{"taskArn": "local:fuzz:1", "reason": "gone", "platform": True}],
                }
            }
        ],
    }
