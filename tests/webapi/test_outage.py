"""A database outage answers 503 on every route, and the API recovers by itself."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import make_url

from tests.support.migrations import alembic_config
from tests.webapi.conftest import PASSWORD
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.auth.tokens import issue_access_token
from webapi.services import EXTENSION
from webapi.settings import WebSettings
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import normalize_url


@pytest.fixture
def private_server() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, so it can be stopped.

    Not under ``tmp_path``: a pytest session starting meanwhile closes the permissions
    of its base directory, which the server's own user must traverse.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-outage-pg-"))
    server = EmbeddedPostgres(data_dir, durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def outage_app(private_server: EmbeddedPostgres, web_env: dict[str, str]) -> Iterator[Flask]:
    url = normalize_url(private_server.uri())
    command.upgrade(alembic_config(make_url(url)), "head")
    app = create_app(WebSettings.from_env({**web_env, "DATABASE_URL": url}))
    try:
        yield app
    finally:
        close_app(app)


@pytest.mark.slow
def test_outage_is_503_and_recovery_needs_no_restart(
    outage_app: Flask, private_server: EmbeddedPostgres
) -> None:
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

    private_server.stop("fast")
    assert not private_server.is_running(), "the server did not stop"
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

    private_server.start()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/polygons", headers=headers).status_code == 200
    login = client.post("/api/auth/login", json={"email": "a@example.org", "password": PASSWORD})
    assert login.status_code == 200
