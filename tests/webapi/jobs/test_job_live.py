"""A single job's live facts on its record: how long it has run (``runSeconds``) and,
while PENDING, why it waits (``pendingReason``), each reason from real state: the
manager's fleet report, the local backend's cap, quotas, registered types, the queue."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from webapi.jobs.pending import AHEAD_SHOWN

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _job(client, analyst, job_id: int) -> dict:
    response = client.get(f"/api/jobs/{job_id}", headers=analyst.headers)
    assert response.status_code == 200, response.json
    return response.json["job"]


def _set_times(engine, job_id: int, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE jobs SET {sql} WHERE id = :id"), {"id": job_id})


def test_run_seconds_is_null_before_a_start_then_elapsed_then_total(
    client, engine, analyst, worker, submit
) -> None:
    job_id = submit({"id": 1})
    assert _job(client, analyst, job_id)["runSeconds"] is None
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers)
    assert claimed.status_code == 200, claimed.json
    # Started 42 s ago by the database's clock: still running, so it counts on.
    _set_times(engine, job_id, "started_at = now() - interval '42 seconds'")
    running = _job(client, analyst, job_id)["runSeconds"]
    assert 42 <= running < 42 + 60
    listed = client.get("/api/jobs", headers=analyst.headers).json["jobs"]
    assert 42 <= listed[0]["runSeconds"] < 42 + 60
    assignment = claimed.json["assignment"]["id"]
    done = client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json
    # It ended an hour ago, 75.5 s after it started: its run time stops at its end.
    _set_times(
        engine,
        job_id,
        "finished_at = now() - interval '1 hour',"
        " started_at = now() - interval '1 hour 75.5 seconds'",
    )
    assert _job(client, analyst, job_id)["runSeconds"] == 75.5
    assert _job(client, analyst, job_id)["pendingReason"] is None


@pytest.fixture
def manager(client, api_key):
    """Reports a fleet as the manager holding the lease would."""
    headers = api_key(("MANAGER",)).headers
    taken = client.post(
        "/api/manager/lease", json={"holder": "m", "ttlSeconds": 60}, headers=headers
    )
    assert taken.status_code == 200 and taken.json["held"], taken.json

    def report(*workers: tuple[str, str]) -> None:
        fleet = [
            {"taskArn": f"local:h:{n}", "jobTypes": [kind], "status": status,
             "startedAt": "2030-01-01T00:00:00Z"}
            for n, (kind, status) in enumerate(workers)
        ]  # fmt: skip
        answer = client.put(
            "/api/manager/fleet", json={"holder": "m", "workers": fleet}, headers=headers
        )
        assert answer.status_code == 200, answer.json

    return report


@pytest.fixture
def as_admin(admin, auth_headers):
    return auth_headers(admin[1])


def _reason(client, analyst, job_id: int) -> dict[str, Any]:
    return _job(client, analyst, job_id)["pendingReason"]


def test_no_manager_report_then_a_worker_to_start_then_starting(
    client, analyst, submit, manager
) -> None:
    job_id = submit({"id": 1})
    assert _reason(client, analyst, job_id) == {
        "code": "NO_MANAGER",
        "message": "No manager has reported the fleet for over 60 s: nothing starts a TEST worker.",
    }
    manager()
    assert _reason(client, analyst, job_id) == {
        "code": "WORKER_STARTING",
        "message": "Waiting for a worker to start: the manager starts a TEST worker at its"
        " next tick.",
    }
    manager(("TEST", "STARTING"), ("POLYGON_STATS", "RUNNING"))
    assert _reason(client, analyst, job_id) == {
        "code": "WORKER_STARTING",
        "message": "Waiting for a worker to start: 1 TEST worker(s) launched, none has"
        " claimed yet.",
    }


def test_paused_fleet_and_a_type_that_scales_to_nothing(
    client, analyst, submit, manager, as_admin
) -> None:
    manager(("TEST", "RUNNING"))
    job_id = submit({"id": 1})
    assert (
        client.post("/api/admin/scale", json={"desiredCount": 0}, headers=as_admin).status_code
        == 200
    )
    assert _reason(client, analyst, job_id) == {
        "code": "PAUSED",
        "message": "No worker starts: an admin paused the fleet (desired count 0).",
    }
    assert (
        client.post("/api/admin/scale", json={"desiredCount": 2}, headers=as_admin).status_code
        == 200
    )
    assert _reason(client, analyst, job_id)["code"] == "QUEUED"
    document = {"inputSchema": {"type": "object"}, "scaling": {"min": 0, "max": 0}}
    put = client.put("/api/job-types/IDLE", json=document, headers=as_admin)
    assert put.status_code == 201, put.json
    idle = submit({}, job_type="IDLE")
    assert _reason(client, analyst, idle) == {
        "code": "PAUSED",
        "message": "No worker starts: IDLE's scaling allows none (max 0).",
    }


def test_a_fleet_at_its_cap_with_other_types(client, analyst, submit, manager, as_admin) -> None:
    assert (
        client.post("/api/admin/scale", json={"desiredCount": 2}, headers=as_admin).status_code
        == 200
    )
    manager(("POLYGON_STATS", "RUNNING"), ("POLYGON_STATS", "STARTING"), ("TEST", "STOPPING"))
    job_id = submit({"id": 1})
    assert _reason(client, analyst, job_id) == {
        "code": "FLEET_AT_CAP",
        "message": "No TEST worker runs, and the fleet is at its cap of 2 workers (busy with"
        " other types): one starts when another exits.",
    }


def test_an_owner_at_max_running(client, analyst, worker, submit, manager, as_admin) -> None:
    manager(("TEST", "RUNNING"))
    quota = client.put(
        f"/api/users/{analyst.user_id}/quota",
        json={"weight": 1, "maxPending": None, "maxRunning": 1},
        headers=as_admin,
    )
    assert quota.status_code == 200, quota.json
    first, second = submit({"id": 1}), submit({"id": 2})
    assert _reason(client, analyst, first)["code"] == "QUEUED"
    assert client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).status_code == 200
    assert _reason(client, analyst, second) == {
        "code": "MAX_RUNNING",
        "message": "Its owner has 1 TEST jobs running, their maxRunning: it waits until one of"
        " them ends.",
    }


def test_behind_older_jobs_of_its_type_counted_up_to_a_bound(
    client, engine, analyst, submit, manager
) -> None:
    manager(("TEST", "RUNNING"))
    first, second = submit({"id": 1}), submit({"id": 2})
    assert _reason(client, analyst, first) == {
        "code": "QUEUED",
        "message": "Next in line: a TEST worker takes it when one is free.",
    }
    assert _reason(client, analyst, second)["message"] == "Behind 1 older PENDING TEST job(s)."
    # Many more older ones, written straight into the table as a big sweep would be.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (type, status, user_id, input_payload, hash, created_at,"
                " updated_at, max_attempts, lease_seconds, timeout_seconds)"
                " SELECT 'TEST', 'PENDING', :user, jsonb_build_object('id', -n), md5(n::text),"
                " now() - interval '1 day', now(), 1, 60, 60 FROM generate_series(1, :n) n"
            ),
            {"user": analyst.user_id, "n": AHEAD_SHOWN + 5},
        )
    assert _reason(client, analyst, first)["message"] == (
        "Behind more than 1,000 older PENDING TEST jobs."
    )
