"""A database outage answers 503 on every route, and the API recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.support import database
from tests.webapi.conftest import PASSWORD
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.auth.tokens import issue_access_token
from webapi.services import EXTENSION
from webapi.settings import WebSettings
from webapi.store.embedded_pg import EmbeddedPostgres


@pytest.fixture
def private_server() -> Iterator[tuple[EmbeddedPostgres, str]]:
    with database.private_server("shoal-outage-pg-") as found:
        yield found


@pytest.fixture
def outage_app(
    private_server: tuple[EmbeddedPostgres, str], web_env: dict[str, str]
) -> Iterator[Flask]:
    app = create_app(WebSettings.from_env({**web_env, "DATABASE_URL": private_server[1]}))
    try:
        yield app
    finally:
        close_app(app)


@pytest.mark.slow
def test_outage_is_503_and_recovery_needs_no_restart(
    outage_app: Flask, private_server: tuple[EmbeddedPostgres, str]
) -> None:
    server, _ = private_server
    svc = outage_app.extensions[EXTENSION]
    with svc.transaction() as conn:
        user = accounts.create_user(
            conn, svc.passwords, email="a@example.org", password=PASSWORD, roles=["ANALYST"]
        )
    with outage_app.app_context():
        headers = {"Authorization": f"Bearer {issue_access_token(user.id, user.email, user.roles)}"}
    client = outage_app.test_client()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/polygons", headers=headers).status_code == 200

    server.stop("fast")
    assert not server.is_running(), "the server did not stop"
    down = client.get("/api/health")
    assert down.status_code == 503, down.json
    assert down.json["status"] == "unavailable"
    for response in (
        client.get("/api/polygons", headers=headers),
        client.post("/api/auth/login", json={"email": "a@example.org", "password": PASSWORD}),
        client.post("/api/auth/register", json={"email": "b@example.org", "password": PASSWORD}),
    ):
        assert response.status_code == 503, (response.request.path, response.json)
        assert response.is_json and "database" in response.json["message"]

    server.start()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/polygons", headers=headers).status_code == 200
    login = client.post("/api/auth/login", json={"email": "a@example.org", "password": PASSWORD})
    assert login.status_code == 200
