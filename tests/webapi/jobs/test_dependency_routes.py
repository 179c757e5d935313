"""Dependencies through the API (Flask's test client, a real PostgreSQL): submitting a
job that waits, the 4xx of a parent that is missing, unreadable or malformed, and the
cancel that says what it did downstream."""

from __future__ import annotations

import pytest

from tests.webapi.jobs.conftest import Caller

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _submit(client, caller: Caller, n: int, *dependencies: dict) -> tuple[int, dict]:
    body = {"type": "TEST", "inputPayload": {"id": n}, "dependencies": list(dependencies)}
    answer = client.post("/api/jobs", json=body, headers=caller.headers)
    return answer.status_code, answer.json


def _job(client, caller: Caller, job_id: int) -> dict:
    return client.get(f"/api/jobs/{job_id}", headers=caller.headers).json["job"]


@pytest.fixture
def loose_type(client, admin, auth_headers) -> None:
    """LOOSE: a registered type whose input is any object (so it may take $from)."""
    loose = {"inputSchema": {"type": "object"}, "run": {"command": ["true"]}}
    headers = auth_headers(admin[1])
    assert client.put("/api/job-types/LOOSE", json=loose, headers=headers).status_code == 201


def _total(client, caller: Caller) -> int:
    return client.get("/api/jobs", headers=caller.headers).json["total"]


def test_a_dependent_waits_then_runs_when_its_parent_succeeds(client, analyst, worker) -> None:
    _, parent = _submit(client, analyst, 1)
    status, child = _submit(client, analyst, 2, {"job": parent["jobId"]})
    assert status == 200 and child["cached"] is False
    shown = _job(client, analyst, child["jobId"])
    assert shown["status"] == "WAITING"
    assert shown["dependencies"] == [
        {
            "job": parent["jobId"],
            "batch": None,
            "condition": "afterok",
            "status": "PENDING",
            "size": None,
            "ended": None,
            "succeeded": None,
        }
    ]
    waiting = client.get("/api/jobs?status=WAITING", headers=analyst.headers).json
    assert [j["id"] for j in waiting["jobs"]] == [child["jobId"]]
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    assert claimed["job"]["id"] == parent["jobId"]
    done = client.post(
        f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json
    assert _job(client, analyst, child["jobId"])["status"] == "PENDING"


@pytest.mark.parametrize(
    ("dependency", "status", "named"),
    [
        ({"job": 987654}, 404, "job 987654"),
        ({"batch": 987654}, 404, "batch 987654"),
        ({"job": "OTHER"}, 403, "job {other}"),
        ({"job": 1, "batch": 1}, 400, "dependencies.0.job"),
        ({}, 400, "dependencies.0.job"),
        ({"job": 1, "condition": "afterwards"}, 400, "dependencies.0.condition"),
        ({"job": 0}, 400, "dependencies.0.job"),
    ],
)
def test_a_bad_dependency_is_refused_naming_it_and_creates_nothing(
    client, analyst, make_user, auth_headers, dependency, status, named
) -> None:
    other = Caller(*_other(make_user, auth_headers))
    _, theirs = _submit(client, other, 1)
    if dependency.get("job") == "OTHER":
        dependency = {"job": theirs["jobId"]}
    answer_status, answer = _submit(client, analyst, 2, dependency)
    assert answer_status == status, answer
    text = str(answer.get("errors") or "") + answer["message"]
    assert named.format(other=theirs["jobId"]) in text
    assert _total(client, analyst) == 0


def _other(make_user, auth_headers) -> tuple[int, dict]:
    user_id, token = make_user("other@example.org", ("ANALYST",))
    return user_id, auth_headers(token)


def test_cancel_says_how_many_dependents_it_cancelled(client, analyst) -> None:
    _, parent = _submit(client, analyst, 1)
    _, child = _submit(client, analyst, 2, {"job": parent["jobId"], "condition": "afterany"})
    _, kept_parent = _submit(client, analyst, 3)
    _, kept = _submit(client, analyst, 4, {"job": kept_parent["jobId"], "condition": "afterany"})
    answer = client.post(f"/api/jobs/{parent['jobId']}/cancel", headers=analyst.headers)
    assert answer.status_code == 200
    assert answer.json["cancelledDependents"] == 1
    assert answer.json["job"]["status"] == "CANCELLED"
    cancelled = _job(client, analyst, child["jobId"])
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["error_message"] == f"dependency job {parent['jobId']} was cancelled"
    answer = client.post(
        f"/api/jobs/{kept_parent['jobId']}/cancel?dependents=keep", headers=analyst.headers
    )
    assert answer.json["cancelledDependents"] == 0
    assert _job(client, analyst, kept["jobId"])["status"] == "PENDING"  # afterany runs
    bad = client.post(f"/api/jobs/{kept['jobId']}/cancel?dependents=maybe", headers=analyst.headers)
    assert bad.status_code == 400 and "dependents" in bad.json["errors"]


def test_a_batch_waits_and_a_job_may_wait_for_the_batch(client, analyst) -> None:
    _, parent = _submit(client, analyst, 1)
    body = {
        "type": "TEST",
        "inputs": [{"id": 10}, {"id": 11}],
        "dependencies": [{"job": parent["jobId"], "condition": "afterany"}],
    }
    sweep = client.post("/api/jobs/batch", json=body, headers=analyst.headers)
    assert sweep.status_code == 201, sweep.json
    assert [_job(client, analyst, j)["status"] for j in sweep.json["jobIds"]] == ["WAITING"] * 2
    _, aggregate = _submit(client, analyst, 2, {"batch": sweep.json["batchId"]})
    assert _job(client, analyst, aggregate["jobId"])["dependencies"][0] == {
        "job": None,
        "batch": sweep.json["batchId"],
        "condition": "afterok",
        "status": None,
        "size": 2,
        "ended": 0,
        "succeeded": 0,
    }
    counts = client.get(f"/api/jobs/batches/{sweep.json['batchId']}", headers=analyst.headers)
    assert counts.json["counts"]["WAITING"] == 2
    cancelled = client.post(
        f"/api/jobs/batches/{sweep.json['batchId']}/cancel", headers=analyst.headers
    )
    assert cancelled.json["cancelled"] == 2 and cancelled.json["cancelledDependents"] == 1


def test_a_batch_on_a_missing_parent_creates_nothing(client, analyst) -> None:
    body = {"type": "TEST", "inputs": [{"id": 10}], "dependencies": [{"batch": 424242}]}
    answer = client.post("/api/jobs/batch", json=body, headers=analyst.headers)
    assert answer.status_code == 404 and "batch 424242" in answer.json["message"]
    assert _total(client, analyst) == 0


@pytest.mark.parametrize(
    ("reference", "named"),
    [
        ({"$from": {"job": "PARENT", "file": "../x"}}, "inputPayload.data.$from"),
        ({"$from": {"job": "OTHER"}}, "inputPayload.data.$from"),
        ({"$from": {"batch": 5}}, "inputPayload.data.$from"),
        ({"$from": {"job": "PARENT"}, "more": 1}, "inputPayload.data.$from"),
        ({"$from": [1]}, "inputPayload.data.$from"),
    ],
)
def test_a_bad_from_is_refused_naming_where_it_is(
    client, analyst, loose_type, reference, named
) -> None:
    _, parent = _submit(client, analyst, 1)
    _, other = _submit(client, analyst, 2)
    ids = {"PARENT": parent["jobId"], "OTHER": other["jobId"]}
    body_ref = {
        "$from": {
            k: ids.get(v, v) if isinstance(v, str) and k == "job" else v
            for k, v in reference["$from"].items()
        }
        if isinstance(reference["$from"], dict)
        else reference["$from"],
        **{k: v for k, v in reference.items() if k != "$from"},
    }
    body = {
        "type": "LOOSE",
        "inputPayload": {"data": body_ref},
        "dependencies": [{"job": parent["jobId"]}],
    }
    answer = client.post("/api/jobs", json=body, headers=analyst.headers)
    assert answer.status_code == 400, answer.json
    assert named in answer.json["errors"], answer.json
    assert _total(client, analyst) == 2


@pytest.mark.parametrize("size", [1, 5000])
def test_the_claim_resolves_a_from_in_a_small_or_a_large_input(
    client, analyst, loose_type, worker, size
) -> None:
    """A large input is not walked on the claim path: its dependencies say it may refer."""
    _, parent = _submit(client, analyst, 1)
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    client.post(
        f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    body = {
        "type": "LOOSE",
        "inputPayload": {
            "values": list(range(size)),
            "parent": {"$from": {"job": parent["jobId"]}},
        },
        "dependencies": [{"job": parent["jobId"]}],
    }
    assert client.post("/api/jobs", json=body, headers=analyst.headers).status_code == 200
    claim = {**CLAIM, "jobTypes": ["LOOSE"]}
    answer = client.post("/api/jobs/claim", json=claim, headers=worker.headers).json
    reference = answer["job"]["input_payload"]["parent"]
    assert reference["$resolved"]["status"] == "SUCCEEDED"
    assert reference["$resolved"]["payload"] == {}
