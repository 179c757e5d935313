"""A batch followed as one: status counts, cancelling the rest, downloads, access."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shared.enums import JobStatus


@pytest.fixture
def new_batch(client, analyst):
    def create(inputs, caller=None):
        response = client.post(
            "/api/jobs/batch",
            json={"type": "TEST", "inputs": inputs},
            headers=(caller or analyst).headers,
        )
        assert response.status_code == 201, response.json
        return response.json

    return create


def _take(client, worker, *job_ids: int) -> list[dict]:
    """Assignments of exactly these jobs (whatever order a claim would pick)."""
    taken = []
    for job_id in job_ids:
        body = {"jobId": job_id, "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
        response = client.post("/api/jobs/assign", json=body, headers=worker.headers)
        assert response.status_code == 200, response.json
        taken.append(response.json["assignment"])
    return taken


def _succeed(client, worker, assignment: dict, files: dict[str, str] | None = None) -> None:
    directory = Path(urlsplit(assignment["storage_uri"]).path)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {}).items():
        (directory / name).write_text(content)
    done = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json


def _status(client, caller, batch_id: int):
    return client.get(f"/api/jobs/batches/{batch_id}", headers=caller.headers)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: n for status, n in counts.items() if n}


def test_status_counts_inputs_as_their_jobs_progress_and_finish(
    client, analyst, worker, new_batch
) -> None:
    batch = new_batch([{"id": i} for i in range(4)])
    status = _status(client, analyst, batch["batchId"]).json
    assert status["batch"]["size"] == 4 and status["batch"]["type"] == "TEST"
    assert set(status["counts"]) == {s.value for s in JobStatus}
    assert status["counts"]["PENDING"] == 4
    assert (status["finished"], status["progress"]) == (0, 0)
    first, second = _take(client, worker, *batch["jobIds"][:2])
    beat = client.post(
        f"/api/jobs/assignments/{second['id']}/heartbeat",
        json={"progress": 0.5},
        headers=worker.headers,
    )
    assert beat.status_code == 200
    _succeed(client, worker, first)
    status = _status(client, analyst, batch["batchId"]).json
    assert _nonzero(status["counts"]) == {"PENDING": 2, "IN_PROGRESS": 1, "SUCCEEDED": 1}
    assert status["finished"] == 0.25 and status["progress"] == pytest.approx(1.5 / 4)


def test_cancel_cancels_the_rest_and_leaves_finished_and_others_jobs(
    client, analyst, worker, make_user, auth_headers, submit, new_batch
) -> None:
    other = auth_headers(make_user()[1])
    theirs = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 9}}, headers=other
    ).json["jobId"]
    batch = new_batch([{"id": 0}, {"id": 1}, {"id": 2}, {"id": 9}, {"id": 1}])
    assert batch["jobIds"][3] == theirs
    done, running = _take(client, worker, *batch["jobIds"][:2])
    _succeed(client, worker, done)
    answer = client.post(f"/api/jobs/batches/{batch['batchId']}/cancel", headers=analyst.headers)
    assert answer.status_code == 200, answer.json
    assert answer.json["cancelled"] == 2
    assert _nonzero(answer.json["counts"]) == {"SUCCEEDED": 1, "CANCELLED": 3, "PENDING": 1}
    assert answer.json["finished"] == 0.8
    beat = client.post(
        f"/api/jobs/assignments/{running['id']}/heartbeat", json={}, headers=worker.headers
    )
    assert beat.json["cancelled"] is True
    job = client.get(f"/api/jobs/{theirs}", headers=other).json["job"]
    assert job["status"] == "PENDING"
    again = client.post(f"/api/jobs/batches/{batch['batchId']}/cancel", headers=analyst.headers)
    assert again.status_code == 200 and again.json["cancelled"] == 0


def test_an_admin_cancels_every_live_job_of_a_batch(
    client, analyst, admin, auth_headers, make_user, new_batch
) -> None:
    other = auth_headers(make_user()[1])
    client.post("/api/jobs", json={"type": "TEST", "inputPayload": {"id": 9}}, headers=other)
    batch = new_batch([{"id": 0}, {"id": 9}])
    answer = client.post(
        f"/api/jobs/batches/{batch['batchId']}/cancel", headers=auth_headers(admin[1])
    )
    assert answer.json["cancelled"] == 2 and answer.json["counts"]["CANCELLED"] == 2


def test_download_lists_every_inputs_files_page_by_page(client, analyst, worker, new_batch) -> None:
    batch = new_batch([{"id": i} for i in range(3)])
    first, second = _take(client, worker, *batch["jobIds"][:2])
    _succeed(client, worker, first, {"result.json": "{}", "log.txt": "x"})
    _succeed(client, worker, second, {"result.json": "{}"})
    url = f"/api/jobs/batches/{batch['batchId']}/download"
    page = client.get(f"{url}?limit=2", headers=analyst.headers).json
    assert [entry["job"]["id"] for entry in page["jobs"]] == batch["jobIds"][:2]
    assert [sorted(entry["files"]) for entry in page["jobs"]] == [
        ["log.txt", "result.json"],
        ["result.json"],
    ]
    link = urlsplit(page["jobs"][0]["files"]["log.txt"])
    fetched = client.get(f"{link.path}?{link.query}")
    try:
        assert fetched.data == b"x"
    finally:
        fetched.close()
    rest = client.get(f"{url}?limit=2&cursor={page['nextCursor']}", headers=analyst.headers).json
    assert rest["nextCursor"] is None
    assert [(e["job"]["id"], e["job"]["status"], e["files"]) for e in rest["jobs"]] == [
        (batch["jobIds"][2], "PENDING", {})
    ]
    filtered = client.get(f"{url}?filterPrefix=log", headers=analyst.headers).json
    assert [sorted(entry["files"]) for entry in filtered["jobs"]] == [["log.txt"], [], []]


def test_batches_are_their_creators_and_admins(
    client, analyst, admin, auth_headers, make_user, new_batch
) -> None:
    batch_id = new_batch([{"id": 1}])["batchId"]
    stranger = type(analyst)(0, auth_headers(make_user()[1]))
    admin_headers = auth_headers(admin[1])
    for method, path in [
        ("GET", ""),
        ("POST", "/cancel"),
        ("GET", "/download"),
    ]:
        url = f"/api/jobs/batches/{batch_id}{path}"
        assert client.open(url, method=method, headers=stranger.headers).status_code == 403
        assert client.open(url, method=method, headers=admin_headers).status_code == 200
        missing = f"/api/jobs/batches/{batch_id + 1}{path}"
        assert client.open(missing, method=method, headers=analyst.headers).status_code == 404
        huge = f"/api/jobs/batches/{2**64}{path}"
        assert client.open(huge, method=method, headers=analyst.headers).status_code == 404


def test_list_shows_my_batches_newest_first(
    client, analyst, auth_headers, make_user, new_batch
) -> None:
    other = type(analyst)(0, auth_headers(make_user()[1]))
    mine = [new_batch([{"id": i}])["batchId"] for i in range(3)]
    new_batch([{"id": 7}], caller=other)
    page = client.get("/api/jobs/batches?limit=2", headers=analyst.headers).json
    assert [b["id"] for b in page["batches"]] == mine[::-1][:2]
    rest = client.get(
        f"/api/jobs/batches?limit=2&cursor={page['nextCursor']}", headers=analyst.headers
    ).json
    assert [b["id"] for b in rest["batches"]] == [mine[0]] and rest["nextCursor"] is None
    bad = client.get("/api/jobs/batches?cursor=nope", headers=analyst.headers)
    assert bad.status_code == 400


def test_pruning_removes_a_batch_once_its_jobs_are_gone(client, analyst, app, new_batch) -> None:
    finished = new_batch([{"id": 1}, {"id": 2}])["batchId"]
    live = new_batch([{"id": 3}])["batchId"]
    client.post(f"/api/jobs/batches/{finished}/cancel", headers=analyst.headers)
    assert app.extensions["shoal_jobs"].queue.prune(retention_seconds=0) == 2
    assert _status(client, analyst, finished).status_code == 404
    assert _status(client, analyst, live).json["counts"]["PENDING"] == 1


def test_workers_reach_no_batch_route(client, worker, new_batch) -> None:
    batch_id = new_batch([{"id": 1}])["batchId"]
    for method, url in [
        ("GET", "/api/jobs/batches"),
        ("GET", f"/api/jobs/batches/{batch_id}"),
        ("POST", f"/api/jobs/batches/{batch_id}/cancel"),
        ("GET", f"/api/jobs/batches/{batch_id}/download"),
    ]:
        assert client.open(url, method=method, headers=worker.headers).status_code == 403, url
