"""What a batch's page needs: its name, the batch on each job, an ETA from the jobs' own
run times, and its failed inputs with their errors."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.webapi.jobs.test_batch_status import _succeed, _take


def _post_batch(client, caller, inputs, **extra):
    return client.post(
        "/api/jobs/batch", json={"type": "TEST", "inputs": inputs, **extra}, headers=caller.headers
    )


def _fail(client, worker, assignment: dict, error: str) -> None:
    done = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "FAILED", "error": error},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json


def _seconds(job: dict) -> float:
    started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def test_a_batch_has_the_name_it_was_given(client, analyst) -> None:
    named = _post_batch(client, analyst, [{"id": 1}], name="reef sweep 7").json["batchId"]
    lines = client.post(
        "/api/jobs/batch?type=TEST&name=from%20lines",
        data=b'{"id": 2}\n',
        headers={**analyst.headers, "Content-Type": "application/x-ndjson"},
    )
    assert lines.status_code == 201, lines.json
    unnamed = _post_batch(client, analyst, [{"id": 3}]).json["batchId"]
    status = client.get(f"/api/jobs/batches/{named}", headers=analyst.headers).json
    assert status["batch"]["name"] == "reef sweep 7"
    listed = client.get("/api/jobs/batches", headers=analyst.headers).json["batches"]
    assert [(b["id"], b["name"]) for b in listed] == [
        (unnamed, None),
        (lines.json["batchId"], "from lines"),
        (named, "reef sweep 7"),
    ]


@pytest.mark.parametrize(
    ("extra", "query", "field"),
    [({"name": "x" * 201}, "", "name"), ({"name": ""}, "", "name"), ({}, "?name=a", "name")],
)
def test_a_bad_name_is_refused_naming_it_and_creates_nothing(
    client, analyst, extra, query, field
) -> None:
    refused = client.post(
        f"/api/jobs/batch{query}",
        json={"type": "TEST", "inputs": [{"id": 1}], **extra},
        headers=analyst.headers,
    )
    assert refused.status_code == 400, refused.json
    assert field in refused.json["errors"], refused.json
    assert client.get("/api/jobs/batches", headers=analyst.headers).json["batches"] == []


def test_a_job_names_the_batch_that_created_it(client, analyst, submit) -> None:
    single = submit({"id": 5})
    first = _post_batch(client, analyst, [{"id": 1}, {"id": 5}], name="first").json
    second = _post_batch(client, analyst, [{"id": 1}], name="second").json
    assert second["jobIds"] == first["jobIds"][:1]  # a cache hit keeps its creating batch

    def batch_of(job_id: int) -> tuple:
        job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
        return job["batchId"], job["batchName"]

    assert batch_of(first["jobIds"][0]) == (first["batchId"], "first")
    assert first["jobIds"][1] == single and batch_of(single) == (None, None)


def test_status_gives_running_jobs_and_an_eta_from_their_run_times(client, analyst, worker) -> None:
    batch = _post_batch(client, analyst, [{"id": i} for i in range(5)]).json
    url = f"/api/jobs/batches/{batch['batchId']}"
    status = client.get(url, headers=analyst.headers).json
    assert (status["running"], status["meanRunSeconds"], status["etaSeconds"]) == (0, None, None)
    first, second, third, fourth = _take(client, worker, *batch["jobIds"][:4])
    _succeed(client, worker, first)
    _fail(client, worker, second, "boom")
    status = client.get(url, headers=analyst.headers).json
    ran = [
        _seconds(client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"])
        for job_id in batch["jobIds"][:2]
    ]
    mean = sum(ran) / 2
    assert status["running"] == 2
    assert status["meanRunSeconds"] == pytest.approx(mean)
    # three jobs left (two running, one pending), two at a time
    assert status["etaSeconds"] == pytest.approx(mean * 3 / 2)
    cancelled = client.post(f"{url}/cancel", headers=analyst.headers).json
    assert (cancelled["running"], cancelled["etaSeconds"]) == (0, 0)
    assert cancelled["meanRunSeconds"] == pytest.approx(mean)  # cancelled jobs not counted
    assert (third["job_id"], fourth["job_id"]) == tuple(batch["jobIds"][2:4])


def test_failed_lists_inputs_in_order_with_their_errors_page_by_page(
    client, analyst, worker
) -> None:
    inputs = [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 2}, {"id": 4}]
    batch = _post_batch(client, analyst, inputs).json
    jobs = batch["jobIds"]
    first, second, third, fourth = _take(client, worker, jobs[0], jobs[1], jobs[2], jobs[4])
    _succeed(client, worker, first)
    _fail(client, worker, second, "no such reef")
    _fail(client, worker, fourth, "out of memory")
    url = f"/api/jobs/batches/{batch['batchId']}/failed"
    page = client.get(f"{url}?limit=2", headers=analyst.headers).json

    def rows(entries: list[dict]) -> list[tuple]:
        return [(e["inputIndex"], e["jobId"], e["status"], e["error"]) for e in entries]

    # input 4 repeats input 2: its job's failure is its failure too
    assert rows(page["failed"]) == [
        (2, jobs[1], "FAILED", "no such reef"),
        (4, jobs[1], "FAILED", "no such reef"),
    ]
    rest = client.get(f"{url}?limit=2&cursor={page['nextCursor']}", headers=analyst.headers).json
    assert rows(rest["failed"]) == [(5, jobs[4], "FAILED", "out of memory")]
    assert rest["nextCursor"] is None
    assert third["job_id"] == jobs[2]
    download = client.get(
        f"/api/jobs/batches/{batch['batchId']}/download", headers=analyst.headers
    ).json
    assert [e["inputIndex"] for e in download["jobs"]] == [1, 2, 3, 4, 5]


def test_failed_is_the_creators_and_admins(
    client, analyst, admin, auth_headers, make_user, worker
) -> None:
    batch_id = _post_batch(client, analyst, [{"id": 1}]).json["batchId"]
    url = f"/api/jobs/batches/{batch_id}/failed"
    stranger = auth_headers(make_user()[1])
    assert client.get(url, headers=stranger).status_code == 403
    assert client.get(url, headers=auth_headers(admin[1])).json == {
        "failed": [],
        "nextCursor": None,
    }
    assert client.get(url, headers=worker.headers).status_code == 403
    missing = client.get(f"/api/jobs/batches/{batch_id + 1}/failed", headers=analyst.headers)
    assert missing.status_code == 404
    bad = client.get(f"{url}?cursor=nope", headers=analyst.headers)
    assert bad.status_code == 400 and "cursor" in bad.json["errors"]
