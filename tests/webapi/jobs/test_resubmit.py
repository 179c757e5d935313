"""``POST /api/jobs/:id/resubmit``: a job run again, as it was or with an edited input,
through Flask's test client on a real PostgreSQL."""

from __future__ import annotations

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _finish(client, worker) -> int:
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers)
    assert claimed.status_code == 200, claimed.json
    assignment = claimed.json["assignment"]["id"]
    done = client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json
    return int(claimed.json["job"]["id"])


def _job(client, caller, job_id: int) -> dict:
    return client.get(f"/api/jobs/{job_id}", headers=caller.headers).json["job"]


def _total(client, caller) -> int:
    return client.get("/api/jobs", headers=caller.headers).json["total"]


def test_run_again_reuses_the_result_unless_told_not_to(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 3, "durationSeconds": 1})
    _finish(client, worker)
    url = f"/api/jobs/{job_id}/resubmit"
    again = client.post(url, json={}, headers=analyst.headers)
    assert again.status_code == 200, again.json
    assert (again.json["jobId"], again.json["cached"]) == (job_id, True)
    fresh = client.post(url, json={"noCache": True}, headers=analyst.headers)
    assert fresh.status_code == 200, fresh.json
    assert fresh.json["cached"] is False and fresh.json["jobId"] != job_id
    new = _job(client, analyst, fresh.json["jobId"])
    assert (new["type"], new["input_payload"], new["status"]) == (
        "TEST",
        {"id": 3, "durationSeconds": 1},
        "PENDING",
    )


def test_run_again_with_an_edited_input_and_priority(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 4})
    _finish(client, worker)
    body = {"inputPayload": {"id": 5, "durationSeconds": 2}, "priority": 7}
    edited = client.post(f"/api/jobs/{job_id}/resubmit", json=body, headers=analyst.headers)
    assert edited.status_code == 200, edited.json
    new = _job(client, analyst, edited.json["jobId"])
    assert (new["input_payload"], new["priority"]) == ({"id": 5, "durationSeconds": 2}, 7)


def test_a_bad_edited_input_is_400_naming_it_and_creates_nothing(
    client, analyst, worker, submit
) -> None:
    job_id = submit({"id": 6})
    _finish(client, worker)
    before = _total(client, analyst)
    for body, field in (
        ({"inputPayload": {"id": "six"}}, "inputPayload.id"),
        ({"inputPayload": {"id": 6, "extra": 1}}, "inputPayload.extra"),
        ({"noCache": "yes"}, "noCache"),
        ({"priority": 1000}, "priority"),
        ({"surprise": 1}, "surprise"),
    ):
        answer = client.post(f"/api/jobs/{job_id}/resubmit", json=body, headers=analyst.headers)
        assert answer.status_code == 400, (body, answer.json)
        assert field in answer.json["errors"], (body, answer.json)
    assert _total(client, analyst) == before


def test_only_who_may_read_the_job_runs_it_again(
    client, analyst, worker, submit, make_user, auth_headers
) -> None:
    job_id = submit({"id": 8})
    _finish(client, worker)
    _, token = make_user("other@example.org", ("ANALYST",))
    other = auth_headers(token)
    url = f"/api/jobs/{job_id}/resubmit"
    refused = client.post(url, json={"noCache": True}, headers=other)
    assert refused.status_code == 403, refused.json
    assert client.post("/api/jobs/999999/resubmit", json={}, headers=other).status_code == 404
    # Once the cache answered one of her own requests with it, she may read it, and run it.
    hit = client.post("/api/jobs", json={"type": "TEST", "inputPayload": {"id": 8}}, headers=other)
    assert hit.json == {**hit.json, "jobId": job_id, "cached": True}
    mine = client.post(url, json={"noCache": True}, headers=other)
    assert mine.status_code == 200, mine.json
    new_id = mine.json["jobId"]
    assert client.get(f"/api/jobs/{new_id}", headers=other).json["job"]["user_id"] != (
        analyst.user_id
    )
    assert client.get(f"/api/jobs/{new_id}", headers=analyst.headers).status_code == 403
