"""Who may do what, beyond tests/webapi: every job route against a stranger, every
worker route against analysts and other workers, every user route against workers.

Each refusal is a 403 (authenticated, not allowed) that changes nothing.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.security.conftest import CLAIM, Caller, Cast, claim, finish, submit


def _job_routes(job_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/jobs/{job_id}"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
        ("GET", f"/api/jobs/{job_id}/download"),
        ("GET", f"/api/jobs/{job_id}/events"),
    ]


def _status(client: FlaskClient, method: str, url: str, caller: Caller, **kwargs: object) -> int:
    response = client.open(url, method=method, headers=caller.headers, **kwargs)
    try:
        return response.status_code
    finally:
        response.close()


def test_a_stranger_reaches_no_route_of_a_finished_job(client: FlaskClient, cast: Cast) -> None:
    submit(client, cast.analyst)
    job_id = finish(client, cast.worker, {"result.json": "{}"})
    for method, url in _job_routes(job_id):
        assert _status(client, method, url, cast.stranger) == 403, url
    mine = client.get(
        "/api/jobs", query_string={"userId": cast.analyst.user_id}, headers=cast.stranger.headers
    )
    assert mine.status_code == 403
    # Filters cannot widen the caller's own views.
    for url in ("/api/jobs", "/api/jobs/mine", "/api/jobs/requests"):
        page = client.get(url, headers=cast.stranger.headers).json
        assert page.get("jobs", page.get("jobRequests")) == [], url
    leaked = client.get(
        "/api/jobs/mine",
        query_string={"userId": cast.analyst.user_id},
        headers=cast.stranger.headers,
    )
    assert leaked.status_code == 200 and leaked.json["jobs"] == []
    # The owner and an admin still may.
    for caller in (cast.analyst, cast.admin):
        assert _status(client, "GET", f"/api/jobs/{job_id}/download", caller) == 200


def test_workers_cannot_use_the_user_routes(client: FlaskClient, cast: Cast) -> None:
    job_id = submit(client, cast.analyst)
    for worker in (cast.worker, cast.worker_login):
        for method, url in [
            *_job_routes(job_id),
            ("GET", "/api/jobs"),
            ("GET", "/api/jobs/mine"),
            ("GET", "/api/jobs/requests"),
        ]:
            assert _status(client, method, url, worker) == 403, (url, worker.headers.keys())
        created = client.post(
            "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 2}}, headers=worker.headers
        )
        assert created.status_code == 403
        for method, url in [
            ("GET", "/api/polygons"),
            ("GET", "/api/notes"),
            ("GET", "/api/users"),
            ("GET", "/api/admin/status"),
        ]:
            assert _status(client, method, url, worker) == 403, url
    job = client.get(f"/api/jobs/{job_id}", headers=cast.analyst.headers).json["job"]
    assert job["status"] == "PENDING"
    assert client.get("/api/jobs", headers=cast.admin.headers).json["total"] == 1


def test_analysts_cannot_use_the_worker_routes(client: FlaskClient, cast: Cast) -> None:
    job_id = submit(client, cast.analyst)
    pending = submit(client, cast.analyst, 2)
    assignment = claim(client, cast.worker)["id"]
    base = f"/api/jobs/assignments/{assignment}"
    for method, url, body in [
        ("POST", "/api/jobs/assign", {"jobId": pending, "ecsTaskArn": "t", "ecsClusterArn": "c"}),
        ("POST", "/api/jobs/claim", CLAIM),
        ("POST", f"{base}/heartbeat", {"progress": 0.5}),
        ("POST", f"{base}/result", {"status": "SUCCEEDED", "resultPayload": {}}),
        ("POST", f"{base}/release", None),
        ("GET", "/api/jobs/poll", None),
        ("GET", "/api/jobs/queue", None),
        ("POST", "/api/manager/lease", {"holder": "me", "ttlSeconds": 10}),
        ("PUT", "/api/manager/fleet", {"workers": []}),
        ("GET", "/api/manager/config", None),
        ("POST", "/api/admin/scale", {"desiredCount": 3}),
    ]:
        kwargs = {} if body is None else {"json": body}
        assert _status(client, method, url, cast.analyst, **kwargs) == 403, url
    job = client.get(f"/api/jobs/{job_id}", headers=cast.analyst.headers).json["job"]
    assert job["status"] == "IN_PROGRESS" and job["assignments"][0]["result"] is None
    other = client.get(f"/api/jobs/{pending}", headers=cast.analyst.headers).json["job"]
    assert other["status"] == "PENDING"


def test_only_the_claiming_credential_reports_on_an_assignment(
    client: FlaskClient, cast: Cast, api_key
) -> None:
    job_id = submit(client, cast.analyst)
    assignment = claim(client, cast.worker)["id"]
    base = f"/api/jobs/assignments/{assignment}"
    # Another key of the same owner, and a WORKER login, are other credentials.
    other_key = Caller(
        cast.admin.user_id, api_key(("WORKER",), owner_id=cast.admin.user_id).headers
    )
    for intruder in (other_key, cast.worker_login, cast.admin):
        assert _status(client, "POST", f"{base}/release", intruder) == 403
        assert _status(client, "POST", f"{base}/heartbeat", intruder, json={}) == 403
        assert _status(client, "POST", f"{base}/result", intruder, json={"status": "FAILED"}) == 403
    job = client.get(f"/api/jobs/{job_id}", headers=cast.analyst.headers).json["job"]
    assert job["status"] == "IN_PROGRESS" and job["progress"] == 0
    assert _status(client, "POST", f"{base}/release", cast.worker) == 200
