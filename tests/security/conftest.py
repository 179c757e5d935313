"""Fixtures for the security tests: the web API's fixtures, with every JSON answer scanned.

``client`` (Flask's test client) and ``http`` (httpx, for the live server) record the
body of every JSON response; when the test ends, none may contain a password hash,
an API key hash (the markers or any stored value) or a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.webapi.conftest import (  # noqa: F401 - fixtures, registered by import
    IssuedKey,
    MakeUser,
    api_key,
    app,
    auth_headers,
    jwt_key_pair,
    make_user,
    services,
    web_settings,
)
from tests.webapi.conftest import web_env as base_web_env  # noqa: F401
from tests.webapi.jobs.conftest import live_url  # noqa: F401
from webapi.services import Services
from webapi.store.models import ApiKey, User

SIGNING_SECRET = "security-signing-secret"
LEAK_MARKERS = ("password_hash", "key_hash", "$argon2", "Traceback")


@pytest.fixture
def web_env(base_web_env: dict[str, str], tmp_path) -> dict[str, str]:  # noqa: F811
    return {
        **base_web_env,
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(tmp_path / "results"),
        "SHOAL_SIGNING_SECRET": SIGNING_SECRET,
        "SHOAL_SSE_KEEPALIVE_SECONDS": "0.5",
    }


class Bodies(list[str]):
    """The text of every JSON response a test received."""

    def add(self, content_type: str | None, text: str) -> None:
        if content_type and "json" in content_type:
            self.append(text)


@pytest.fixture
def bodies(services: Services) -> Iterator[Bodies]:  # noqa: F811
    seen = Bodies()
    yield seen
    with services.transaction() as conn:
        secrets = [
            *conn.scalars(select(User.password_hash)),
            *conn.scalars(select(ApiKey.key_hash)),
        ]
    assert seen, "the test received no JSON answer to scan"
    for text in seen:
        leaked = [marker for marker in LEAK_MARKERS if marker in text]
        leaked += ["a stored hash" for secret in secrets if secret and secret in text]
        assert not leaked, f"{leaked} in {text[:300]}"


@pytest.fixture
def client(app: Flask, bodies: Bodies) -> FlaskClient:  # noqa: F811
    class ScanningClient(FlaskClient):
        def open(self, *args: Any, **kwargs: Any) -> Any:
            response = super().open(*args, **kwargs)
            if response.is_json:
                bodies.add(response.content_type, response.get_data(as_text=True))
            return response

    app.test_client_class = ScanningClient
    return app.test_client()


@pytest.fixture
def http(bodies: Bodies) -> Iterator[httpx.Client]:
    def record(response: httpx.Response) -> None:
        content_type = response.headers.get("content-type")
        if content_type and "json" in content_type:
            response.read()
            bodies.add(content_type, response.text)

    with httpx.Client(timeout=30, event_hooks={"response": [record]}) as scanning:
        yield scanning


CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


@dataclass(frozen=True)
class Caller:
    user_id: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Cast:
    """One caller of each kind: two analysts, an admin, a worker key, a worker login."""

    analyst: Caller
    stranger: Caller
    admin: Caller
    worker: Caller
    worker_login: Caller


@pytest.fixture
def cast(
    make_user: MakeUser,  # noqa: F811
    auth_headers: Callable[[str], dict[str, str]],  # noqa: F811
    api_key: Callable[..., IssuedKey],  # noqa: F811
) -> Cast:
    def person(email: str, role: str) -> Caller:
        user_id, token = make_user(email, (role,))
        return Caller(user_id, auth_headers(token))

    boss = person("boss@example.org", "ADMIN")
    key = api_key(("WORKER",), owner_id=boss.user_id)
    return Cast(
        analyst=person("analyst@example.org", "ANALYST"),
        stranger=person("stranger@example.org", "ANALYST"),
        admin=boss,
        worker=Caller(key.owner_id, key.headers),
        worker_login=person("worker@example.org", "WORKER"),
    )


def submit(client: FlaskClient, caller: Caller, job_id: int = 1) -> int:
    response = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": job_id}}, headers=caller.headers
    )
    assert response.status_code == 200, response.json
    return int(response.json["jobId"])


def claim(client: FlaskClient, worker: Caller) -> dict[str, Any]:
    """Claim the oldest TEST job; returns the assignment."""
    response = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers)
    assert response.status_code == 200, response.status_code
    return dict(response.json["assignment"])


def write_local(storage_uri: str, files: dict[str, str]) -> None:
    directory = Path(urlsplit(storage_uri).path)
    for name, content in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content)


def finish(
    client: FlaskClient,
    worker: Caller,
    files: dict[str, str],
    store: Callable[[str, dict[str, str]], None] = write_local,
) -> int:
    """Claim the oldest TEST job, ``store`` ``files`` at its storage URI, report success."""
    assignment = claim(client, worker)
    store(assignment["storage_uri"], files)
    done = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json
    return int(assignment["job_id"])
