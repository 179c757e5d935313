"""A single job's live facts on its record: how long it has run (``runSeconds``)."""

from __future__ import annotations

from sqlalchemy import text

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
