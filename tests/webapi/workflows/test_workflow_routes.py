"""POST /api/workflows through Flask's test client on a real PostgreSQL: a graph of
jobs and sweeps created all or nothing, refused naming the step, read back with each
step's status."""

from __future__ import annotations

import pytest

LOOSE = {"inputSchema": {"type": "object"}, "run": {"command": ["true"]}}
CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _flow(**changes) -> dict:
    steps = [
        {"name": "prepare", "type": "TEST", "input": {"id": 1}},
        {
            "name": "sweep",
            "type": "TEST",
            "inputs": [{"id": 10 + i} for i in range(3)],
            "after": {"prepare": "afterok"},
        },
        {
            "name": "aggregate",
            "type": "LOOSE",
            "input": {
                "sweep": {"$from": {"step": "sweep"}},
                "prepared": {"$from": {"step": "prepare", "file": "result.json"}},
            },
            "after": {"sweep": "afterany", "prepare": "afterok"},
        },
    ]
    return {"name": "demo", "steps": steps, **changes}


@pytest.fixture
def loose(client, admin, auth_headers) -> None:
    answer = client.put("/api/job-types/LOOSE", json=LOOSE, headers=auth_headers(admin[1]))
    assert answer.status_code == 201


def _nothing_created(client, analyst) -> None:
    assert client.get("/api/jobs", headers=analyst.headers).json["total"] == 0
    assert client.get("/api/workflows", headers=analyst.headers).json["workflows"] == []


def test_a_workflow_is_created_whole_and_read_back(client, analyst, worker, loose) -> None:
    answer = client.post("/api/workflows", json=_flow(), headers=analyst.headers)
    assert answer.status_code == 201, answer.json
    flow = answer.json["workflow"]
    steps = {s["name"]: s for s in flow["steps"]}
    assert [s["name"] for s in flow["steps"]] == ["prepare", "sweep", "aggregate"]
    assert steps["prepare"]["status"] == "PENDING" and steps["prepare"]["batchId"] is None
    assert steps["sweep"]["status"] == "WAITING" and steps["sweep"]["counts"] == {"WAITING": 3}
    assert steps["aggregate"]["status"] == "WAITING"
    assert steps["aggregate"]["after"] == {"sweep": "afterany", "prepare": "afterok"}
    assert flow["status"] == "PENDING"
    aggregate = client.get(f"/api/jobs/{steps['aggregate']['jobId']}", headers=analyst.headers)
    assert aggregate.json["job"]["input_payload"] == {
        "sweep": {"$from": {"batch": steps["sweep"]["batchId"]}},
        "prepared": {"$from": {"job": steps["prepare"]["jobId"], "file": "result.json"}},
    }
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    client.post(
        f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
        json={"status": "FAILED", "error": "no"},
        headers=worker.headers,
    )
    shown = client.get(f"/api/workflows/{flow['id']}", headers=analyst.headers).json["workflow"]
    assert [s["status"] for s in shown["steps"]] == ["FAILED", "CANCELLED", "CANCELLED"]
    assert shown["status"] == "FAILED"
    listed = client.get("/api/workflows", headers=analyst.headers).json["workflows"]
    assert [w["id"] for w in listed] == [flow["id"]]


def _with(step: str, **changes) -> dict:
    flow = _flow()
    for one in flow["steps"]:
        if one["name"] == step:
            one.update(changes)
    return flow


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with("aggregate", after={"sweeep": "afterok", "prepare": "afterok"}), "aggregate.after"),
        (_with("prepare", after={"aggregate": "afterok"}), "prepare.after"),
        (_with("aggregate", after={"prepare": "afterok"}), "aggregate.input"),
        (_with("sweep", inputs=[{"id": 1}, {"id": "two"}]), "sweep.inputs[1].id"),
        (_with("aggregate", type="NOPE"), "aggregate.type"),
        (_with("sweep", name="prepare"), "steps[1].name"),
    ],
)
def test_a_bad_workflow_is_refused_naming_the_step_and_creates_nothing(
    client, analyst, loose, body, field
) -> None:
    answer = client.post("/api/workflows", json=body, headers=analyst.headers)
    assert answer.status_code == 400, answer.json
    assert field in answer.json["errors"], answer.json
    _nothing_created(client, analyst)


def test_a_refusal_while_creating_undoes_every_step(
    client, analyst, loose, admin, auth_headers
) -> None:
    """The quota refuses the last step's job after the others were written: none stay."""
    quota = {"weight": 1, "maxPending": 1, "maxRunning": None}
    assert (
        client.put(
            f"/api/users/{analyst.user_id}/quota", json=quota, headers=auth_headers(admin[1])
        ).status_code
        == 200
    )
    answer = client.post("/api/workflows", json=_flow(), headers=analyst.headers)
    assert answer.status_code == 429, answer.json
    _nothing_created(client, analyst)


def test_another_users_workflow_is_403_and_a_missing_one_404(
    client, analyst, make_user, auth_headers, loose
) -> None:
    flow = client.post("/api/workflows", json=_flow(), headers=analyst.headers).json["workflow"]
    _, token = make_user("other@example.org", ("ANALYST",))
    other = auth_headers(token)
    assert client.get(f"/api/workflows/{flow['id']}", headers=other).status_code == 403
    assert client.get("/api/workflows/987654", headers=other).status_code == 404
