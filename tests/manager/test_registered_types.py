"""Registered job types in the manager's tick, against the real web API (in-process
WSGI, fresh database): types registered over HTTP get workers by their own scaling,
a type without ``run`` gets none, a retired one keeps workers while its queue runs,
and a failed read of the types keeps the last list.

Workers are stand-in processes that never claim (the backend's target for the type),
so the queue stays as the test put it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from manager.api import ManagerApi
from manager.backends.local import LocalBackend
from manager.loop import Manager
from manager.registered import RegisteredTypes
from shared.client import RetryPolicy, ShoalClient
from tests.manager.conftest import API_URL
from tests.manager.test_loop import (  # noqa: F401 - fixtures
    SLEEPER,
    Headers,
    admin_headers,
    analyst,
    settings,
)
from tests.webapi.conftest import IssuedKey

pytestmark = pytest.mark.slow
ANY_ID = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


def model(scaling: dict[str, Any] | None, *, runs: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": "a registered model", "inputSchema": ANY_ID}
    if scaling is not None:
        doc["scaling"] = scaling
    if runs:
        doc["run"] = {"command": ["sh", "-c", "exit 0"]}
    return doc


class Unreachable(httpx.BaseTransport):
    """The app, except for ``GET /api/job-types`` while ``down`` is set."""

    def __init__(self, app: Flask) -> None:
        self.app = httpx.WSGITransport(app=app)
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.url.path == "/api/job-types":
            raise httpx.ConnectError("connection refused", request=request)
        return self.app.handle_request(request)


@pytest.fixture
def transport(app: Flask) -> Unreachable:
    return Unreachable(app)


@pytest.fixture
def manager(api_key: Callable[..., IssuedKey], transport: Unreachable) -> Iterator[Manager]:
    client = ShoalClient(
        API_URL,
        api_key=api_key(("MANAGER",)).key,
        transport=transport,
        retry=RetryPolicy(attempts=1),
    )
    targets = dict.fromkeys(("MODEL", "EXTERNAL", "OLD"), SLEEPER)
    registered = RegisteredTypes()
    local = LocalBackend(
        targets, api_url=API_URL, api_key="k", stop_timeout=5, run_of=registered.get
    )
    found = Manager(
        settings("local", TEST=SLEEPER),
        ManagerApi(client),
        local,
        holder="registered-test",
        registered=registered,
    )
    yield found
    found.close()
    client.close()


def put(client: FlaskClient, headers: Headers, name: str, doc: dict[str, Any]) -> None:
    answer = client.put(f"/api/job-types/{name}", json=doc, headers=headers)
    assert answer.status_code in (200, 201), answer.get_json()


def submit(client: FlaskClient, headers: Headers, job_type: str, count: int) -> list[int]:
    ids = []
    for n in range(count):
        body = {"type": job_type, "inputPayload": {"id": n}}
        answer = client.post("/api/jobs", json=body, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        ids.append(answer.get_json()["jobId"])
    return ids


def test_a_registered_type_scales_by_its_own_policy_and_one_without_run_gets_none(
    manager: Manager,
    client: FlaskClient,
    admin_headers: Headers,  # noqa: F811
    analyst: Headers,  # noqa: F811
) -> None:
    put(client, admin_headers, "MODEL", model({"max": 2, "cooldownSeconds": 0}))
    put(client, admin_headers, "EXTERNAL", model(None, runs=False))
    submit(client, analyst, "MODEL", 10)  # 2·ln(10/3 + 1) → 3, held to max 2
    submit(client, analyst, "EXTERNAL", 1)
    assert manager.tick().launched == {"MODEL": 2}
    assert manager.registered.names() == ("MODEL",)
    runs = manager.registered.get("MODEL")
    assert runs is not None and runs.document["run"]["command"] == ["sh", "-c", "exit 0"]
    assert manager.registered.get("EXTERNAL") is None


def test_a_failed_read_of_the_types_keeps_the_last_list(
    manager: Manager,
    transport: Unreachable,
    client: FlaskClient,
    admin_headers: Headers,  # noqa: F811
    analyst: Headers,  # noqa: F811
) -> None:
    put(client, admin_headers, "MODEL", model({"max": 5, "cooldownSeconds": 0}))
    assert manager.tick().launched == {}  # known, nothing waits
    transport.down = True
    submit(client, analyst, "MODEL", 1)
    assert manager.tick().launched == {"MODEL": 1}
    errors = manager.metrics.registry.get_sample_value("shoal_manager_job_types_read_errors_total")
    assert errors == 1


def test_a_retired_type_keeps_workers_while_its_queue_runs_and_no_minimum_after(
    manager: Manager,
    client: FlaskClient,
    admin_headers: Headers,  # noqa: F811
    analyst: Headers,  # noqa: F811
) -> None:
    put(client, admin_headers, "OLD", model({"min": 1, "max": 1, "cooldownSeconds": 0}))
    [job] = submit(client, analyst, "OLD", 1)
    assert client.delete("/api/job-types/OLD", headers=admin_headers).status_code == 200
    first = manager.tick()
    assert first.launched == {"OLD": 1}  # retired, but a job of it waits

    cancelled = client.post(f"/api/jobs/{job}/cancel", headers=analyst)
    assert cancelled.status_code == 200, cancelled.get_json()
    manager.backend.stop(list(first.workers), "test")
    # The queue is empty: a retired type's minimum no longer holds a worker up.
    assert manager.tick().launched == {}
