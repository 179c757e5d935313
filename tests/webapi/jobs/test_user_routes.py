"""The researchers' side of jobs through Flask's test client (WSGI, no socket) on a real
PostgreSQL."""

from __future__ import annotations

import pytest

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def test_submit_returns_ids_and_reuses_identical_payloads(client, analyst, submit) -> None:
    first = client.post(
        "/api/jobs",
        json={"type": "TEST", "inputPayload": {"id": 1, "fail": False}},
        headers=analyst.headers,
    )
    again = client.post(
        "/api/jobs",
        json={"type": "TEST", "inputPayload": {"fail": False, "id": 1}},
        headers=analyst.headers,
    )
    assert first.status_code == again.status_code == 200
    assert first.json["cached"] is False and again.json["cached"] is True
    assert again.json["jobId"] == first.json["jobId"]
    assert again.json["requestId"] != first.json["requestId"]
    requests = client.get("/api/jobs/requests", headers=analyst.headers).json["jobRequests"]
    assert [r["cache_hit"] for r in requests] == [True, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "NOPE", "inputPayload": {"id": 1}}, "type"),
        ({"type": "TEST", "inputPayload": {"id": "one"}}, "inputPayload.id"),
        ({"type": "TEST", "inputPayload": {"id": 1, "extra": 2}}, "inputPayload.extra"),
        (
            {"type": "TEST", "inputPayload": {"id": 1, "durationSeconds": 4000}},
            "inputPayload.durationSeconds",
        ),
        ({"type": "TEST"}, "inputPayload"),
        ({"type": "TEST", "inputPayload": {"id": 1}, "surprise": 1}, "surprise"),
    ],
)
def test_bad_submissions_are_400_and_create_nothing(client, analyst, body, field) -> None:
    response = client.post("/api/jobs", json=body, headers=analyst.headers)
    assert response.status_code == 400
    assert field in response.json["errors"], response.json
    assert client.get("/api/jobs", headers=analyst.headers).json["total"] == 0


def test_only_analysts_and_admins_submit(client, make_user, auth_headers, worker) -> None:
    _, default_token = make_user("default@example.org", ("DEFAULT",))
    body = {"type": "TEST", "inputPayload": {"id": 1}}
    assert (
        client.post("/api/jobs", json=body, headers=auth_headers(default_token)).status_code == 403
    )
    assert client.post("/api/jobs", json=body, headers=worker.headers).status_code == 403
    assert client.post("/api/jobs", json=body).status_code == 401


def test_listing_is_paginated_newest_first_and_scoped(
    client, analyst, admin, auth_headers, make_user, submit
) -> None:
    ids = [submit({"id": i}) for i in range(5)]
    other_id, other_token = make_user("other@example.org", ("ANALYST",))
    other = type(analyst)(other_id, auth_headers(other_token))
    theirs = submit({"id": 99}, caller=other)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/jobs", query_string=params, headers=analyst.headers).json
        assert page["total"] == 5
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    mine = client.get("/api/jobs/mine", headers=other.headers).json
    assert [job["id"] for job in mine["jobs"]] == [theirs]
    forbidden = client.get("/api/jobs", query_string={"userId": other_id}, headers=analyst.headers)
    assert forbidden.status_code == 403
    everyone = client.get("/api/jobs", headers=auth_headers(admin[1])).json
    assert everyone["total"] == 6
    filtered = client.get(
        "/api/jobs", query_string={"userId": other_id}, headers=auth_headers(admin[1])
    ).json
    assert [job["id"] for job in filtered["jobs"]] == [theirs]


@pytest.mark.parametrize(
    "query", [{"limit": 501}, {"limit": 0}, {"cursor": "garbage!"}, {"status": "DONE"}]
)
def test_bad_list_queries_are_400(client, analyst, query) -> None:
    response = client.get("/api/jobs", query_string=query, headers=analyst.headers)
    assert response.status_code == 400
    assert response.json["message"]


def test_status_filter(client, analyst, worker, submit) -> None:
    submit({"id": 1})
    second = submit({"id": 2})
    client.post(f"/api/jobs/{second}/cancel", headers=analyst.headers)
    page = client.get("/api/jobs", query_string={"status": "CANCELLED"}, headers=analyst.headers)
    assert [job["id"] for job in page.json["jobs"]] == [second]


def test_job_detail_has_assignments_with_results(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    assignment = claimed["assignment"]["id"]
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert job["status"] == "SUCCEEDED"
    [only] = job["assignments"]
    assert only["id"] == assignment and only["result"]["result_payload"] == {}
    assert only["result"]["storage_uri"] == only["storage_uri"]
    assert job["created_at"].endswith("Z")


def test_other_users_jobs_are_403_and_missing_404(
    client, make_user, auth_headers, submit, analyst
) -> None:
    job_id = submit({"id": 1})
    _, token = make_user("nosy@example.org", ("ANALYST",))
    nosy = auth_headers(token)
    for method, path in [
        ("get", f"/api/jobs/{job_id}"),
        ("post", f"/api/jobs/{job_id}/cancel"),
        ("get", f"/api/jobs/{job_id}/download"),
        ("get", f"/api/jobs/{job_id}/events"),
    ]:
        assert getattr(client, method)(path, headers=nosy).status_code == 403, path
        assert (
            getattr(client, method)(
                path.replace(str(job_id), "999999"), headers=analyst.headers
            ).status_code
            == 404
        ), path
    assert (
        client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]["status"]
        == "PENDING"
    )


def test_cancel_pending_running_and_finished(client, analyst, worker, submit) -> None:
    pending = submit({"id": 1})
    assert (
        client.post(f"/api/jobs/{pending}/cancel", headers=analyst.headers).json["job"]["status"]
        == "CANCELLED"
    )
    again = client.post(f"/api/jobs/{pending}/cancel", headers=analyst.headers)
    assert again.status_code == 400 and "CANCELLED" in again.json["message"]
    running = submit({"id": 2})
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    client.post(f"/api/jobs/{running}/cancel", headers=analyst.headers)
    beat = client.post(
        f"/api/jobs/assignments/{assignment['id']}/heartbeat", json={}, headers=worker.headers
    )
    assert beat.status_code == 200 and beat.json["cancelled"] is True
    late = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert late.status_code == 400
    job = client.get(f"/api/jobs/{running}", headers=analyst.headers).json["job"]
    assert job["status"] == "CANCELLED" and job["assignments"][0]["result"] is None


def test_invalidate_cache_is_admin_only(
    client, analyst, admin, auth_headers, worker, submit
) -> None:
    job_id = submit({"id": 1})
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    body = {"jobType": "TEST"}
    assert (
        client.post("/api/jobs/invalidate-cache", json=body, headers=analyst.headers).status_code
        == 403
    )
    response = client.post("/api/jobs/invalidate-cache", json=body, headers=auth_headers(admin[1]))
    assert response.json["invalidated"] == {"jobType": "TEST", "affectedResults": 1}
    fresh = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=analyst.headers
    ).json
    assert fresh["cached"] is False and fresh["jobId"] != job_id
    bad = client.post(
        "/api/jobs/invalidate-cache", json={"jobType": "NOPE"}, headers=auth_headers(admin[1])
    )
    assert bad.status_code == 400
