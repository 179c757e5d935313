"""The manager's tick against the real web API: WAITING jobs are no demand, so it
launches nothing for them until they are released."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from manager.loop import Manager
from tests.manager.test_loop import Headers, analyst, local_manager, manager_client  # noqa: F401


@pytest.mark.slow
def test_waiting_jobs_launch_nothing_until_released(
    local_manager: Manager,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
) -> None:
    # The parent is of a type this manager does not run: only the dependents are TEST.
    square = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}
    parent = client.post(
        "/api/jobs",
        json={"type": "POLYGON_STATS", "inputPayload": {"polygon": square}},
        headers=analyst,
    ).get_json()["jobId"]
    for n in range(10):
        dependency = {"job": parent, "condition": "afterany"}
        body = {"type": "TEST", "inputPayload": {"id": n}, "dependencies": [dependency]}
        assert client.post("/api/jobs", json=body, headers=analyst).status_code == 200
    assert local_manager.tick().launched == {}
    assert local_manager.tick().launched == {}
    answer = client.post(f"/api/jobs/{parent}/cancel?dependents=keep", headers=analyst)
    assert answer.status_code == 200 and answer.get_json()["cancelledDependents"] == 0
    assert client.get("/api/jobs?status=PENDING", headers=analyst).get_json()["total"] == 10
    assert local_manager.tick().launched == {"TEST": 3}  # 2·ln(10/3 + 1) → 3
