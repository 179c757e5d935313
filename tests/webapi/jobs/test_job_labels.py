"""Names, tags and ``noCache`` at submit, one job or a batch, through Flask's test client."""

from __future__ import annotations

import pytest

INPUT = {"id": 1}


def _job(client, caller, job_id: int) -> dict:
    return client.get(f"/api/jobs/{job_id}", headers=caller.headers).json["job"]


def test_a_job_keeps_its_name_and_tags(client, analyst) -> None:
    body = {"type": "TEST", "inputPayload": INPUT, "name": "heat run", "tags": {"site": "reef-1"}}
    job_id = client.post("/api/jobs", json=body, headers=analyst.headers).json["jobId"]
    job = _job(client, analyst, job_id)
    assert (job["name"], job["tags"]) == ("heat run", {"site": "reef-1"})
    listed = client.get("/api/jobs/mine", headers=analyst.headers).json["jobs"]
    assert [(j["name"], j["tags"]) for j in listed] == [("heat run", {"site": "reef-1"})]


def test_a_job_without_labels_has_none(client, analyst, submit) -> None:
    job = _job(client, analyst, submit(INPUT))
    assert (job["name"], job["tags"]) == (None, {})


def test_no_cache_runs_anew(client, analyst) -> None:
    body = {"type": "TEST", "inputPayload": INPUT}
    first = client.post("/api/jobs", json=body, headers=analyst.headers).json
    cached = client.post("/api/jobs", json=body, headers=analyst.headers).json
    fresh = client.post("/api/jobs", json={**body, "noCache": True}, headers=analyst.headers).json
    assert cached["jobId"] == first["jobId"] and cached["cached"] is True
    assert fresh["jobId"] != first["jobId"] and fresh["cached"] is False


def test_a_batch_labels_every_job_and_may_skip_the_cache(client, analyst, submit) -> None:
    earlier = submit(INPUT)
    body = {
        "type": "TEST",
        "inputs": [INPUT, {"id": 2}],
        "name": "sweep",
        "tags": {"run": "7"},
        "noCache": True,
    }
    answer = client.post("/api/jobs/batch", json=body, headers=analyst.headers).json
    assert answer["created"] == 2 and earlier not in answer["jobIds"]
    jobs = [_job(client, analyst, job_id) for job_id in answer["jobIds"]]
    assert [(j["name"], j["tags"]) for j in jobs] == [("sweep", {"run": "7"})] * 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"tags": {"bad key": "v"}}, "tags"),
        ({"tags": {"k": 1}}, "tags"),
        ({"tags": {"k": "v" * 201}}, "tags"),
        ({"tags": {f"k{i}": "v" for i in range(21)}}, "tags"),
        ({"noCache": "sometimes"}, "noCache"),
    ],
)
@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/batch"])
def test_bad_labels_are_400_and_create_nothing(client, analyst, extra, field, path) -> None:
    body = (
        {"type": "TEST", "inputPayload": INPUT}
        if path == "/api/jobs"
        else {
            "type": "TEST",
            "inputs": [INPUT],
        }
    )
    response = client.post(path, json={**body, **extra}, headers=analyst.headers)
    assert response.status_code == 400, response.json
    assert field in str(response.json["errors"]), response.json
    assert client.get("/api/jobs", headers=analyst.headers).json["total"] == 0
