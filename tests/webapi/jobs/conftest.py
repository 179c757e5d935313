"""Fixtures for the jobs routes: the app served over real HTTP, workers and analysts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.support import database
from webapi.store.embedded_pg import EmbeddedPostgres


@pytest.fixture
def web_env(web_env: dict[str, str], tmp_path) -> dict[str, str]:
    return {
        **web_env,
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(tmp_path / "results"),
        "SHOAL_SIGNING_SECRET": "test-signing-secret",
        "SHOAL_JOB_OVERRIDES": '{"TEST": {"leaseSeconds": 2, "maxAttempts": 2}}',
        "SHOAL_SWEEP_SECONDS": "0.5",
        "SHOAL_SSE_KEEPALIVE_SECONDS": "0.5",
        "SHOAL_DB_POOL_SIZE": "20",
    }


@pytest.fixture
def private_server() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL server of the test's own, to stop and start (tests.support.database);
    a module that uses it points ``web_env``'s DATABASE_URL at it."""
    with database.private_server("shoal-jobs-pg-") as found:
        yield found


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@dataclass(frozen=True)
class Caller:
    user_id: int
    headers: dict[str, str]


@pytest.fixture
def analyst(make_user, auth_headers) -> Caller:
    user_id, token = make_user("analyst@example.org", ("ANALYST",))
    return Caller(user_id, auth_headers(token))


@pytest.fixture
def worker(api_key) -> Caller:
    key = api_key(("WORKER",))
    return Caller(key.owner_id, key.headers)


@pytest.fixture
def submit(client, analyst) -> Callable[..., int]:
    def submit_job(
        payload: dict | None = None, job_type: str = "TEST", caller: Caller | None = None
    ) -> int:
        response = client.post(
            "/api/jobs",
            json={"type": job_type, "inputPayload": payload or {"id": 1}},
            headers=(caller or analyst).headers,
        )
        assert response.status_code == 200, response.json
        return response.json["jobId"]

    return submit_job


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
