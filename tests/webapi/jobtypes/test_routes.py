"""/api/job-types: each answer and each refusal, who may do what, and the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.webapi.jobs.conftest import Caller

URL = "/api/job-types/MY_MODEL"


def _put(client, caller: Caller, doc: dict[str, Any], url: str = URL):
    return client.put(url, json=doc, headers=caller.headers)


def test_every_role_that_uses_jobs_reads_every_type_with_its_schema_and_example(
    client, analyst, worker, api_key, admin_caller, model
) -> None:
    assert _put(client, admin_caller, model).status_code == 201
    manager = api_key(("MANAGER",))
    for headers in (analyst.headers, worker.headers, manager.headers, admin_caller.headers):
        answer = client.get("/api/job-types", headers=headers)
        assert answer.status_code == 200
        docs = {doc["name"]: doc for doc in answer.json["jobTypes"]}
        assert list(docs) == ["MY_MODEL", "POLYGON_STATS", "TEST"]
    assert docs["MY_MODEL"] | {"createdAt": None, "updatedAt": None} == {
        **model,
        "maxPlatformRetries": 10,
        "assignLeaseSeconds": 3600,
        "cacheResults": True,
        "cacheScope": "global",
        "logLimitBytes": None,
        "scaling": None,
        "run": None,
        "revision": 1,
        "source": "registered",
        "retired": False,
        "createdAt": None,
        "updatedAt": None,
    }
    test, polygon = docs["TEST"], docs["POLYGON_STATS"]
    assert (test["source"], test["revision"], test["run"]) == ("builtin", None, None)
    assert test["maxPlatformRetries"] == 10
    assert test["inputSchema"]["properties"]["id"] == {"type": "integer"}
    assert test["inputSchema"]["required"] == ["id"]
    assert polygon["inputSchema"]["properties"]["polygon"]["type"] == "object"
    assert polygon["resultSchema"]["required"] == ["area_km2", "bbox", "centroid", "perimeter_km"]
    # Every example input is one the type accepts.
    for name, doc in docs.items():
        submitted = client.post(
            "/api/jobs",
            json={"type": name, "inputPayload": doc["exampleInput"]},
            headers=analyst.headers,
        )
        assert submitted.status_code == 200, (name, submitted.json)


def test_a_caller_without_a_jobs_role_is_refused(client, make_user, auth_headers) -> None:
    _, token = make_user("fresh@example.org", ("DEFAULT",))
    assert client.get("/api/job-types", headers=auth_headers(token)).status_code == 403
    assert client.get("/api/job-types").status_code == 401


def test_one_type_and_an_unknown_one(client, analyst, admin_caller, model) -> None:
    _put(client, admin_caller, model)
    assert client.get(URL, headers=analyst.headers).json["revision"] == 1
    assert client.get("/api/job-types/TEST", headers=analyst.headers).json["source"] == "builtin"
    missing = client.get("/api/job-types/NOPE", headers=analyst.headers)
    assert (missing.status_code, missing.json["message"]) == (404, "Job type NOPE not found")


def test_put_creates_keeps_an_unchanged_type_and_makes_a_revision_of_a_change(
    client, analyst, admin_caller, model, services
) -> None:
    created = _put(client, admin_caller, model)
    assert (created.status_code, created.json["revision"]) == (201, 1)
    # The same content again (the answer's read-only keys included): nothing changes.
    again = _put(client, admin_caller, created.json)
    assert (again.status_code, again.json["revision"]) == (200, 1)
    assert again.json["updatedAt"] == created.json["updatedAt"]
    # Spelling out a default is the same content.
    assert _put(client, admin_caller, {**model, "cacheScope": "global"}).json["revision"] == 1
    changed = _put(client, admin_caller, {**model, "leaseSeconds": 45})
    assert (changed.status_code, changed.json["revision"]) == (200, 2)
    revisions = client.get(f"{URL}/revisions", headers=analyst.headers).json["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[0]["createdBy"] == admin_caller.user_id
    assert revisions[0]["contentHash"] != revisions[1]["contentHash"]
    first = client.get(f"{URL}/revisions/1", headers=analyst.headers)
    assert (first.json["revision"], first.json["leaseSeconds"]) == (1, 30)
    missing = client.get(f"{URL}/revisions/3", headers=analyst.headers)
    assert (missing.status_code, missing.json["message"]) == (
        404,
        "Job type MY_MODEL has no revision 3",
    )
    with services.engine.connect() as conn:
        audited = conn.execute(
            text("SELECT action, actor_id, metadata FROM user_logs WHERE action::text LIKE 'JOB%'")
        ).all()
    assert [(a, actor, m["jobType"], m["revision"]) for a, actor, m in audited] == [
        ("JOB_TYPE_CREATED", admin_caller.user_id, "MY_MODEL", 1),
        ("JOB_TYPE_CHANGED", admin_caller.user_id, "MY_MODEL", 2),
    ]


def test_only_an_admin_changes_types(client, analyst, worker, api_key, model) -> None:
    manager = api_key(("MANAGER",))
    for caller in (analyst, worker, Caller(0, manager.headers)):
        assert _put(client, caller, model).status_code == 403
        assert client.delete(URL, headers=caller.headers).status_code == 403
    assert client.get(URL, headers=analyst.headers).status_code == 404


@pytest.mark.parametrize("name", ["TEST", "POLYGON_STATS"])
def test_built_in_names_are_409(client, admin_caller, model, name) -> None:
    url = f"/api/job-types/{name}"
    refused = _put(client, admin_caller, {**model, "name": name}, url)
    assert refused.status_code == 409
    assert refused.json["message"] == (
        f"Job type {name} is a built-in type: it cannot be registered, changed or retired"
        " through the API"
    )
    assert client.delete(url, headers=admin_caller.headers).status_code == 409


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"name": "OTHER"}, "name", "Must be MY_MODEL (as in the URL) or absent."),
        ({"inputSchema": None}, "inputSchema", "Field may not be null."),
        ({"leaseSeconds": 0}, "leaseSeconds", "Must be greater than or equal to 1"),
        ({"maxPlatformRetries": -1}, "maxPlatformRetries", "greater than or equal to 0"),
        ({"maxPlatformRetries": 101}, "maxPlatformRetries", "less than or equal to 100"),
        ({"maxPlatformRetries": "5"}, "maxPlatformRetries", "Not a valid integer."),
        ({"cacheScope": "team"}, "cacheScope", "Must be one of: global, user."),
        ({"cacheResults": "yes"}, "cacheResults", "Not a valid boolean."),
        ({"colour": "red"}, "colour", "Unknown field."),
        ({"scaling": {"min": 3, "max": 1}}, "scaling.min", "Must not be greater than max."),
        ({"run": {"image": "x"}}, "run.command", "Missing data for required field."),
        ({"run": {"command": "bash run.sh"}}, "run.command", "Not a valid list."),
        ({"exampleInput": {"region": ""}}, "exampleInput.region", "'' should be non-empty"),
        ({"inputSchema": {"type": "nope"}}, "inputSchema.type", "is not valid under any"),
    ],
)
def test_a_bad_document_is_400_naming_the_field_and_changes_nothing(
    client, admin_caller, analyst, model, change, field, reason
) -> None:
    refused = _put(client, admin_caller, {**model, **change})
    assert refused.status_code == 400, refused.json
    assert field in refused.json["errors"], refused.json
    assert any(reason in r for r in refused.json["errors"][field]), refused.json
    assert field in refused.json["message"]
    assert client.get(URL, headers=analyst.headers).status_code == 404


def test_a_bad_name_in_the_url_is_400(client, admin_caller, model) -> None:
    refused = _put(client, admin_caller, {**model, "name": "my_model"}, "/api/job-types/my_model")
    assert refused.status_code == 400
    assert list(refused.json["errors"]) == ["name"]


def test_retire_stops_new_submissions_not_queued_jobs_and_a_put_brings_it_back(
    client, analyst, worker, admin_caller, model, services
) -> None:
    _put(client, admin_caller, model)
    queued = client.post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "a"}},
        headers=analyst.headers,
    ).json["jobId"]
    retired = client.delete(URL, headers=admin_caller.headers)
    assert (retired.status_code, retired.json["retired"], retired.json["revision"]) == (
        200,
        True,
        1,
    )
    # Retiring again changes nothing (and audits nothing).
    assert client.delete(URL, headers=admin_caller.headers).json["retired"] is True
    refused = client.post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "b"}},
        headers=analyst.headers,
    )
    assert (refused.status_code, refused.json["message"]) == (400, "Job type MY_MODEL is retired")
    batch = client.post(
        "/api/jobs/batch",
        json={"type": "MY_MODEL", "inputs": [{"region": "b"}]},
        headers=analyst.headers,
    )
    assert (batch.status_code, batch.json["message"]) == (400, "Job type MY_MODEL is retired")
    listed = client.get("/api/job-types", headers=analyst.headers).json["jobTypes"]
    assert "MY_MODEL" not in [doc["name"] for doc in listed]
    listed = client.get("/api/job-types?retired=true", headers=analyst.headers).json["jobTypes"]
    assert [doc["retired"] for doc in listed if doc["name"] == "MY_MODEL"] == [True]
    assert client.get(URL, headers=analyst.headers).json["retired"] is True
    # The queued job still runs and finishes, its result checked against its revision.
    claim = {"jobTypes": ["MY_MODEL"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
    claimed = client.post("/api/jobs/claim", json=claim, headers=worker.headers)
    assert claimed.json["job"]["id"] == queued
    done = client.post(
        f"/api/jobs/assignments/{claimed.json['assignment']['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {"cells": 3}},
        headers=worker.headers,
    )
    assert (done.status_code, done.json["job"]["status"]) == (200, "SUCCEEDED")
    back = _put(client, admin_caller, model)
    assert (back.status_code, back.json["revision"], back.json["retired"]) == (200, 2, False)
    with services.engine.connect() as conn:
        actions = (
            conn.execute(
                text(
                    "SELECT action::text FROM user_logs WHERE action::text LIKE 'JOB%' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["JOB_TYPE_CREATED", "JOB_TYPE_RETIRED", "JOB_TYPE_CHANGED"]


def test_retiring_an_unknown_type_is_404(client, admin_caller) -> None:
    missing = client.delete("/api/job-types/NOPE", headers=admin_caller.headers)
    assert (missing.status_code, missing.json["message"]) == (404, "Job type NOPE not found")


def test_the_queue_depth_lists_registered_types(client, worker, admin_caller, model) -> None:
    _put(client, admin_caller, model)
    depth = client.get("/api/jobs/queue", headers=worker.headers).json["jobTypes"]
    assert depth["MY_MODEL"] == {"pending": 0, "inProgress": 0}


def test_the_routes_are_in_the_openapi_document(client) -> None:
    paths = client.get("/api/openapi.json").json["paths"]
    assert set(paths["/api/job-types/{name}"]) >= {"get", "put", "delete"}
    assert "201" in paths["/api/job-types/{name}"]["put"]["responses"]
    assert "409" in paths["/api/job-types/{name}"]["put"]["responses"]
    assert "/api/job-types/{name}/revisions/{revision}" in paths
