"""API keys: created by admins, shown once, stored hashed, revocable at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, select, update

from shared.enums import AuditAction
from tests.webapi.conftest import IssuedKey, MakeUser
from webapi.auth.api_keys import revoke_api_key
from webapi.auth.principals import EXTENSION as PRINCIPALS
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services, build_services
from webapi.settings import WebSettings
from webapi.store.models import ApiKey, UserLog

Headers = Callable[[str], dict[str, str]]


def test_create_list_use_revoke(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers, services: Services
) -> None:
    admin_id, token = admin
    created = client.post(
        "/api/auth/api-keys",
        json={"name": "worker pool", "roles": ["WORKER"]},
        headers=auth_headers(token),
    )
    assert created.status_code == 200
    body = created.json
    assert set(body) == {"id", "name", "roles", "userId", "key"}
    assert body["userId"] == admin_id
    assert body["roles"] == ["WORKER"]
    key = body["key"]

    listed = client.get("/api/auth/api-keys", headers=auth_headers(token))
    assert listed.status_code == 200
    [entry] = listed.json["apiKeys"]
    assert set(entry) == {"id", "name", "prefix", "roles", "userId", "created_at", "last_used_at"}
    assert key.startswith(entry["prefix"]) and entry["userId"] == admin_id
    assert entry["last_used_at"] is None
    assert key not in listed.get_data(as_text=True)

    # The key is stored only as a hash.
    with services.transaction() as conn:
        row = conn.execute(select(ApiKey).where(ApiKey.id == body["id"])).one()
        assert row.key_hash != key and key not in row.key_hash and row.user_id == admin_id

    profile = client.get("/api/auth/profile", headers={"X-API-Key": key})
    assert profile.status_code == 200
    assert profile.json["user"] == {
        "id": admin_id,
        "email": "admin@example.org",
        "roles": ["WORKER"],
    }
    listed = client.get("/api/auth/api-keys", headers=auth_headers(token))
    assert listed.json["apiKeys"][0]["last_used_at"].endswith("Z")

    revoked = client.delete(f"/api/auth/api-keys/{body['id']}", headers=auth_headers(token))
    assert revoked.status_code == 204
    refused = client.get("/api/auth/profile", headers={"X-API-Key": key})
    assert refused.status_code == 401
    assert client.get("/api/auth/api-keys", headers=auth_headers(token)).json == {"apiKeys": []}
    again = client.delete(f"/api/auth/api-keys/{body['id']}", headers=auth_headers(token))
    assert again.status_code == 404

    with services.transaction() as conn:
        actions = conn.scalars(select(UserLog.action).where(UserLog.actor_id == admin_id)).all()
    assert AuditAction.API_KEY_CREATED in actions and AuditAction.API_KEY_REVOKED in actions


def test_researchers_manage_their_own_keys_only(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Headers,
    api_key: Callable[..., IssuedKey],
) -> None:
    analyst_id, analyst = make_user(roles=("ANALYST",))
    headers = auth_headers(analyst)
    admins_key = api_key(("ADMIN",))
    created = client.post(
        "/api/auth/api-keys", json={"name": "laptop", "roles": ["ANALYST"]}, headers=headers
    )
    assert created.status_code == 200, created.json
    assert created.json["userId"] == analyst_id
    own = created.json["id"]
    [listed] = client.get("/api/auth/api-keys", headers=headers).json["apiKeys"]
    assert (listed["id"], listed["userId"]) == (own, analyst_id)  # not the admin's key

    more = client.post(
        "/api/auth/api-keys", json={"name": "root", "roles": ["ADMIN"]}, headers=headers
    )
    assert more.status_code == 400
    assert more.json["message"] == (
        "user1@example.org does not hold the role(s) ADMIN this key asks for."
    )
    for_other = client.post(
        "/api/auth/api-keys",
        json={"name": "x", "roles": ["ANALYST"], "ownerId": admins_key.owner_id},
        headers=headers,
    )
    assert for_other.status_code == 403
    assert client.delete(f"/api/auth/api-keys/{admins_key.id}", headers=headers).status_code == 404
    assert client.get("/api/auth/profile", headers=admins_key.headers).status_code == 200
    worker = api_key(("WORKER",))
    body = {"name": "mine", "roles": ["WORKER"]}
    assert client.post("/api/auth/api-keys", json=body, headers=worker.headers).status_code == 403
    assert client.delete(f"/api/auth/api-keys/{own}", headers=headers).status_code == 204
    assert client.get("/api/auth/api-keys", headers=headers).json == {"apiKeys": []}


def test_a_key_made_for_a_researcher_acts_as_the_researcher(
    client: FlaskClient, make_user: MakeUser, admin: tuple[int, str], auth_headers: Headers
) -> None:
    analyst_id, _ = make_user("rita@example.org", roles=("ANALYST",))
    headers = auth_headers(admin[1])
    made = client.post(
        "/api/auth/api-keys",
        json={"name": "rita's sweeps", "roles": ["ANALYST"], "ownerId": analyst_id},
        headers=headers,
    )
    assert made.status_code == 200, made.json
    assert made.json["userId"] == analyst_id
    key = {"X-API-Key": made.json["key"]}
    submitted = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=key
    )
    assert submitted.status_code == 200, submitted.json
    job = client.get(f"/api/jobs/{submitted.json['jobId']}", headers=headers).json["job"]
    assert job["user_id"] == analyst_id
    assert client.get("/api/users", headers=key).status_code == 403
    too_much = client.post(
        "/api/auth/api-keys",
        json={"name": "x", "roles": ["ADMIN"], "ownerId": analyst_id},
        headers=headers,
    )
    assert too_much.status_code == 400
    assert too_much.json["errors"] == {
        "roles": ["rita@example.org does not hold the role(s) ADMIN this key asks for."]
    }
    nobody = client.post(
        "/api/auth/api-keys",
        json={"name": "x", "roles": ["ANALYST"], "ownerId": 999999},
        headers=headers,
    )
    assert nobody.status_code == 400 and "ownerId" in nobody.json["errors"]


def test_key_creation_is_validated(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    headers = auth_headers(admin[1])
    for body in (
        {"name": "x", "roles": ["ROOT"]},
        {"name": "x", "roles": []},
        {"roles": ["WORKER"]},
        {"name": "", "roles": ["WORKER"]},
    ):
        response = client.post("/api/auth/api-keys", json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json["errors"]


def test_unknown_key_is_401(client: FlaskClient) -> None:
    response = client.get("/api/auth/profile", headers={"X-API-Key": "shoal_made_up"})
    assert response.status_code == 401
    assert response.json == {"message": "Invalid or revoked API key."}


def test_revocation_by_another_process_is_seen_once_its_notification_arrives(
    client: FlaskClient,
    app: Flask,
    api_key: Callable[..., IssuedKey],
    web_settings: WebSettings,
) -> None:
    issued = api_key(("ANALYST",))
    assert client.get("/api/polygons", headers=issued.headers).status_code == 200
    assert app.extensions[JOBS].hub.connected.wait(10)  # the key is cached from now on
    assert client.get("/api/polygons", headers=issued.headers).status_code == 200
    other = build_services(web_settings)  # another process: its commit reaches us by NOTIFY
    try:
        with other.transaction() as conn:
            revoke_api_key(conn, issued.id, actor_id=None)
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while client.get("/api/polygons", headers=issued.headers).status_code == 200:
        assert time.monotonic() < deadline, "the revocation never reached this process"


def test_last_used_is_written_at_most_once_a_minute(
    client: FlaskClient, app: Flask, api_key: Callable[..., IssuedKey], services: Services
) -> None:
    issued = api_key(("ANALYST",))
    client.get("/api/polygons", headers=issued.headers)
    with services.transaction() as conn:
        first = _last_used(conn, issued.id)
    client.get("/api/polygons", headers=issued.headers)
    with services.transaction() as conn:
        assert _last_used(conn, issued.id) == first
        old = datetime.now(UTC) - timedelta(minutes=5)
        conn.execute(update(ApiKey).where(ApiKey.id == issued.id).values(last_used_at=old))
    app.extensions[PRINCIPALS].clear()  # as when the cached key's time is up
    client.get("/api/polygons", headers=issued.headers)
    with services.transaction() as conn:
        latest = _last_used(conn, issued.id)
        assert latest is not None and latest > old + timedelta(minutes=4)


def _last_used(conn: Connection, key_id: int) -> datetime | None:
    found: datetime | None = conn.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))
    return found
