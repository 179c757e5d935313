"""Per-user fair-share settings (ADMIN) and the max-PENDING limit on submit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

from tests.e2e import live
from tests.webapi.conftest import MakeUser
from webapi.services import Services

Headers = Callable[[str], dict[str, str]]


def _count(services: Services, sql: str, **params: object) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _quota(client: FlaskClient, headers: dict[str, str], user_id: int, **body: object):  # type: ignore[no-untyped-def]
    return client.put(f"/api/users/{user_id}/quota", json=body, headers=headers)


def test_admin_sets_and_reads_a_users_quota(
    client: FlaskClient, admin: tuple[int, str], make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(admin[1])
    user_id, token = make_user()
    shown = client.get(f"/api/users/{user_id}", headers=headers).json["user"]
    assert (shown["weight"], shown["maxPending"], shown["maxRunning"]) == (1, None, None)

    changed = _quota(client, headers, user_id, weight=3, maxPending=10, maxRunning=2)
    assert changed.status_code == 200
    assert (
        changed.json["user"] | {}
        == client.get(f"/api/users/{user_id}", headers=headers).json["user"]
    )
    assert (changed.json["user"]["weight"], changed.json["user"]["maxPending"]) == (3, 10)
    assert changed.json["user"]["maxRunning"] == 2

    for bad in (
        {"weight": 0, "maxPending": None, "maxRunning": None},
        {"weight": 1, "maxPending": -1, "maxRunning": None},
        {"weight": 1, "maxPending": None, "maxRunning": -1},
        {"weight": "2", "maxPending": None, "maxRunning": None},
        {"weight": 1, "maxPending": None},
    ):
        refused = _quota(client, headers, user_id, **bad)
        assert refused.status_code == 400, bad
        assert refused.json["message"] and refused.json["errors"], bad
    after = client.get(f"/api/users/{user_id}", headers=headers).json["user"]
    assert (after["weight"], after["maxPending"], after["maxRunning"]) == (3, 10, 2)

    assert (
        _quota(client, headers, 999_999, weight=1, maxPending=None, maxRunning=None).status_code
        == 404
    )
    own = _quota(client, auth_headers(token), user_id, weight=9, maxPending=None, maxRunning=None)
    assert own.status_code == 403


def test_priority_is_validated_and_shown(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, services: Services
) -> None:
    headers = auth_headers(make_user()[1])
    made = client.post(
        "/api/jobs",
        json={"type": "TEST", "inputPayload": {"id": 1}, "priority": 7},
        headers=headers,
    )
    assert made.status_code == 200
    job = client.get(f"/api/jobs/{made.json['jobId']}", headers=headers).json["job"]
    assert job["priority"] == 7
    plain = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 2}}, headers=headers
    )
    assert (
        client.get(f"/api/jobs/{plain.json['jobId']}", headers=headers).json["job"]["priority"] == 0
    )
    for bad in (101, -101, "1", 1.5):
        refused = client.post(
            "/api/jobs",
            json={"type": "TEST", "inputPayload": {"id": 3}, "priority": bad},
            headers=headers,
        )
        assert refused.status_code == 400, bad
        assert "priority" in str(refused.json["errors"]), bad
    assert _count(services, "SELECT count(*) FROM jobs") == 2


def test_submit_past_max_pending_is_refused_and_creates_nothing(
    client: FlaskClient,
    admin: tuple[int, str],
    make_user: MakeUser,
    auth_headers: Headers,
    services: Services,
) -> None:
    user_id, token = make_user()
    headers = auth_headers(token)
    _quota(client, auth_headers(admin[1]), user_id, weight=1, maxPending=2, maxRunning=None)
    for n in (1, 2):
        made = client.post(
            "/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}}, headers=headers
        )
        assert made.status_code == 200
    refused = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 3}}, headers=headers
    )
    assert refused.status_code == 429
    assert "maxPending" in refused.json["message"] and "at most 2" in refused.json["message"]
    assert _count(services, "SELECT count(*) FROM jobs") == 2
    assert _count(services, "SELECT count(*) FROM job_requests") == 2
    # an identical job is not a new one: the cache still answers
    again = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=headers
    )
    assert again.status_code == 200 and again.json["cached"] is True


@pytest.fixture
def http_url(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server, for truly concurrent requests."""
    port = live.free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_concurrent_submits_never_overshoot_max_pending(
    http_url: str,
    client: FlaskClient,
    admin: tuple[int, str],
    make_user: MakeUser,
    auth_headers: Headers,
    services: Services,
) -> None:
    user_id, token = make_user()
    limit, attempts = 5, 24
    _quota(client, auth_headers(admin[1]), user_id, weight=1, maxPending=limit, maxRunning=None)
    start = threading.Barrier(attempts)

    def submit(n: int) -> int:
        with httpx.Client(base_url=http_url, headers=auth_headers(token), timeout=30) as http:
            start.wait()
            return http.post(
                "/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}}
            ).status_code

    with ThreadPoolExecutor(attempts) as pool:
        codes = list(pool.map(submit, range(attempts)))
    assert sorted(codes) == [200] * limit + [429] * (attempts - limit)
    assert _count(services, "SELECT count(*) FROM jobs WHERE user_id = :u", u=user_id) == limit
    assert _count(services, "SELECT pending FROM job_loads WHERE user_id = :u", u=user_id) == limit
