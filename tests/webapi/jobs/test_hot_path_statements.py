"""What the hot routes send the database: one statement each, once a worker's key is
known to the process and the statements are prepared on the connection.

Counted on this thread (Flask's test client runs the request on it), so the app's
background threads do not count; what psycopg2 sends on its own (an isolation level
reset) does not pass here and is tested in tests/webapi/store/test_autocommit.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster", "waitSeconds": 0}


@pytest.fixture
def statements(services: Services) -> Iterator[list[str]]:
    """The statements this thread runs from now on."""
    ran: list[str] = []
    here = threading.get_ident()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == here:
            ran.append(statement)

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        event.remove(services.engine, "before_cursor_execute", record)


def _round(client, worker, ran: list[str], max_jobs: int) -> dict[str, list[str]]:
    """Claim, heartbeat and report one job; the statements of each request."""
    seen: dict[str, list[str]] = {}

    def post(name: str, path: str, body: dict[str, Any]) -> Any:
        before = len(ran)
        response = client.post(path, json=body, headers=worker.headers)
        assert response.status_code == 200, response.json
        seen[name] = ran[before:]
        return response.json

    claimed = post("claim", "/api/jobs/claim", {**CLAIM, "maxJobs": max_jobs})
    assignment = (claimed["claims"][0] if max_jobs > 1 else claimed)["assignment"]["id"]
    path = f"/api/jobs/assignments/{assignment}"
    post("heartbeat", f"{path}/heartbeat", {"progress": 0.5})
    post("result", f"{path}/result", {"status": "SUCCEEDED", "resultPayload": {}})
    return seen


@pytest.mark.parametrize("max_jobs", [1, 10])
def test_claim_heartbeat_and_result_run_one_statement_each(
    client, app: Flask, worker, submit, statements: list[str], max_jobs: int
) -> None:
    for n in range(3):
        submit({"id": n})
    assert app.extensions[JOBS].hub.connected.wait(10)  # the key is cached from now on
    _round(client, worker, statements, 1)  # the first loads the key, prepares the statements
    for name, ran in _round(client, worker, statements, max_jobs).items():
        assert len(ran) == 1 and ran[0].startswith("EXECUTE shoal_"), (name, ran)
