"""Two app instances over one database: a type registered through one is accepted by
the other through the NOTIFY on ``shoal_job_types``, and a listener that reconnects
reloads every type (a notification lost meanwhile is not missed)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from shared.jobtypes.document import RegisteredType
from webapi.app import close_app, create_app
from webapi.jobs.runtime import EXTENSION, JobsRuntime
from webapi.settings import WebSettings

URL = "/api/job-types/MY_MODEL"


@pytest.fixture
def other_app(web_settings: WebSettings) -> Iterator[Flask]:
    """A second API process's app, on the same database."""
    app = create_app(web_settings)
    try:
        yield app
    finally:
        close_app(app)


def _runtime(app: Flask) -> JobsRuntime:
    found: JobsRuntime = app.extensions[EXTENSION]
    return found


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for ``condition`` (checked every 10 ms), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _listening(app: Flask, analyst) -> JobsRuntime:
    """The app's listener started (by a request) and connected, its table loaded."""
    client = app.test_client()
    assert client.get("/api/job-types", headers=analyst.headers).status_code == 200
    runtime = _runtime(app)
    _until(runtime.hub.connected.is_set)
    return runtime


def test_a_type_registered_in_one_process_is_accepted_by_another(
    client, other_app, analyst, admin_caller, model
) -> None:
    other = _listening(other_app, analyst)
    _listening(client.application, analyst)
    refused = other_app.test_client().post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "a"}},
        headers=analyst.headers,
    )
    assert refused.status_code == 400  # not known yet: its table is loaded and trusted
    started = time.monotonic()
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    # Read as the routes read it, while the listener is connected (so the table is
    # trusted, not reloaded): only the notification can bring the type in.
    _until(lambda: "MY_MODEL" in other.catalogue.registered())
    print(f"seen by the other instance {time.monotonic() - started:.3f} s after the PUT began")
    accepted = other_app.test_client().post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "a"}},
        headers=analyst.headers,
    )
    assert accepted.status_code == 200, accepted.json
    # A change and a retirement reach it the same way.
    changed = client.put(URL, json={**model, "leaseSeconds": 45}, headers=admin_caller.headers)
    assert changed.json["revision"] == 2
    _until(lambda: other.catalogue.registered()["MY_MODEL"].record.revision == 2)
    assert client.delete(URL, headers=admin_caller.headers).status_code == 200
    _until(lambda: other.catalogue.registered()["MY_MODEL"].retired)


def _register_without_notifying(engine: Engine, model: dict) -> None:
    """Write a type's rows as a change whose notification was lost."""
    registered = RegisteredType.from_wire(model)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO job_types (name, revision) VALUES ('MY_MODEL', 1)"))
        conn.execute(
            text(
                "INSERT INTO job_type_revisions (name, revision, definition, content_hash)"
                " VALUES ('MY_MODEL', 1, CAST(:definition AS jsonb), :hash)"
            ),
            {"definition": json.dumps(registered.document), "hash": registered.content_hash()},
        )


def test_a_listener_that_reconnects_reloads_every_type(other_app, analyst, model, engine) -> None:
    other = _listening(other_app, analyst)
    _register_without_notifying(engine, model)
    assert "MY_MODEL" not in other.catalogue.registered()  # trusted while listening
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'shoal-events' AND datname = current_database()"
            )
        )
    _until(lambda: not other.hub.connected.is_set())
    _until(other.hub.connected.is_set)
    assert "MY_MODEL" in other.catalogue.registered()
