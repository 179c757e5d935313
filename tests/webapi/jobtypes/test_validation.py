"""A registered type's JSON Schema: payload errors shaped like marshmallow's, bounded
schemas, checked results; and the security rules of a type's image, environment and
secrets. Every refusal is a 400 naming the field and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.jobtypes.json_schema import MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH
from webapi.devserver import _environment

URL = "/api/job-types/MY_MODEL"
CLAIM = {"jobTypes": ["MY_MODEL"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
ARN = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:token-AbCdEf"


@pytest.fixture
def registered(client, admin_caller, model) -> dict[str, Any]:
    answer = client.put(URL, json=model, headers=admin_caller.headers)
    assert answer.status_code == 201, answer.json
    return answer.json


def _submit(client, analyst, payload: Any):
    return client.post(
        "/api/jobs", json={"type": "MY_MODEL", "inputPayload": payload}, headers=analyst.headers
    )


def test_input_errors_have_marshmallows_shape_and_json_paths(client, analyst, registered) -> None:
    refused = _submit(client, analyst, {"params": [{"lower": 1}, {"lower": "low"}], "x": 1})
    assert refused.status_code == 400
    assert refused.json == {
        "message": "inputPayload does not match its schema",
        "errors": {
            "inputPayload.region": ["Missing data for required field."],
            "inputPayload.x": ["Unknown field."],
            "inputPayload.params.1.lower": ["'low' is not of type 'number'"],
        },
    }
    # The same shape as a built-in type's marshmallow errors.
    builtin = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"x": 1}}, headers=analyst.headers
    )
    assert builtin.json == {
        "message": "inputPayload does not match its schema",
        "errors": {
            "inputPayload.id": ["Missing data for required field."],
            "inputPayload.x": ["Unknown field."],
        },
    }
    assert _submit(client, analyst, {"region": "cairns"}).status_code == 200


def test_patterns_are_matched_as_json_schema_says(client, admin_caller, analyst, model) -> None:
    """``pattern``, ``patternProperties`` and ``additionalProperties`` beside them, as the
    time-limited matching implements them."""
    model.pop("exampleInput")
    model["inputSchema"] = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    assert _submit(client, analyst, {"code": "ABC", "x_a": 1}).status_code == 200
    refused = _submit(client, analyst, {"code": "abc", "x_a": "one", "y": 1})
    assert refused.status_code == 400
    assert refused.json["errors"] == {
        "inputPayload.code": ["'abc' does not match '^[A-Z]{3}$'"],
        "inputPayload.x_a": ["'one' is not of type 'integer'"],
        "inputPayload.y": ["Unknown field."],
    }


def test_a_batch_names_the_bad_input_by_index(client, analyst, registered) -> None:
    refused = client.post(
        "/api/jobs/batch",
        json={"type": "MY_MODEL", "inputs": [{"region": "a"}, {"region": 7}]},
        headers=analyst.headers,
    )
    assert refused.status_code == 400
    assert refused.json["errors"] == {"inputs[1].region": ["7 is not of type 'string'"]}
    assert refused.json["message"] == (
        "input 2 does not match its schema (region: 7 is not of type 'string'); nothing was created"
    )
    jobs = client.get("/api/jobs", headers=analyst.headers).json["jobs"]
    assert jobs == []


def test_a_result_is_checked_against_the_result_schema(client, analyst, worker, registered) -> None:
    _submit(client, analyst, {"region": "a"})
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    url = f"/api/jobs/assignments/{assignment['id']}/result"
    refused = client.post(
        url,
        json={"status": "SUCCEEDED", "resultPayload": {"cells": -1}},
        headers=worker.headers,
    )
    assert refused.status_code == 400
    assert refused.json["errors"] == {"resultPayload.cells": ["-1 is less than the minimum of 0"]}
    done = client.post(
        url,
        json={"status": "SUCCEEDED", "resultPayload": {"cells": 4, "_perf": {"s": 1}}},
        headers=worker.headers,
    )
    assert (done.status_code, done.json["job"]["status"]) == (200, "SUCCEEDED")


def test_without_a_result_schema_any_object_is_a_result(
    client, analyst, worker, admin_caller, model
) -> None:
    del model["resultSchema"]
    assert client.put(URL, json=model, headers=admin_caller.headers).json["resultSchema"] is None
    _submit(client, analyst, {"region": "a"})
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    done = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {"anything": [1, 2]}},
        headers=worker.headers,
    )
    assert done.status_code == 200


def _nested(depth: int) -> dict[str, Any]:
    """A schema ``depth`` JSON objects deep (``not`` of ``not`` of ...)."""
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(depth - 1):
        schema = {"not": schema}
    return schema


@pytest.mark.parametrize(
    ("schema", "field", "reason"),
    [
        (
            {"type": "object", "description": "x" * MAX_SCHEMA_BYTES},
            "inputSchema",
            "bytes of JSON; at most 65,536 are allowed.",
        ),
        (_nested(MAX_SCHEMA_DEPTH + 1), "inputSchema", "Nests 33 levels deep; at most 32"),
        (
            {"$ref": "https://example.org/schema.json"},
            "inputSchema.$ref",
            "Only references inside the schema (#...) are allowed.",
        ),
        (
            {"properties": {"a": {"$ref": "file:///etc/passwd"}}},
            "inputSchema.properties.a.$ref",
            "Only references inside the schema (#...) are allowed.",
        ),
        (
            {"$ref": "#/$defs/missing"},
            "inputSchema.$ref",
            "'#/$defs/missing' names nothing in this schema.",
        ),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#"},
            "inputSchema.$schema",
            "Draft 2020-12",
        ),
        ({"type": "object", "minProperties": -1}, "inputSchema.minProperties", "-1 is less"),
        (
            {"patternProperties": {"^x_": {}}, "unevaluatedProperties": False},
            "inputSchema",
            "patternProperties with unevaluatedProperties is not supported.",
        ),
    ],
)
def test_schemas_are_bounded_and_local(
    client, admin_caller, analyst, model, schema, field, reason
) -> None:
    model["inputSchema"] = schema
    model.pop("exampleInput")
    refused = client.put(URL, json=model, headers=admin_caller.headers)
    assert refused.status_code == 400, refused.json
    assert any(reason in r for r in refused.json["errors"][field]), refused.json
    assert client.get(URL, headers=analyst.headers).status_code == 404


def test_the_largest_and_deepest_schema_allowed_is_taken(client, admin_caller, model) -> None:
    model.pop("exampleInput")
    model["inputSchema"] = _nested(MAX_SCHEMA_DEPTH)
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    padding = MAX_SCHEMA_BYTES - len(json.dumps({"description": ""}, separators=(",", ":")))
    model["inputSchema"] = {"description": "x" * padding}
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 200


def test_the_example_input_must_match(client, admin_caller, model) -> None:
    model["exampleInput"] = {"region": 3}
    refused = client.put(URL, json=model, headers=admin_caller.headers)
    assert refused.status_code == 400
    assert refused.json == {
        "message": "exampleInput does not match inputSchema"
        " (exampleInput.region: 3 is not of type 'string')",
        "errors": {"exampleInput.region": ["3 is not of type 'string'"]},
    }


# -- security: images, environment, secrets ----------------------------------


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_ALLOWED_IMAGES": "ghcr.io/lab/, 123456789012.dkr.ecr.x/lab-"}


def _run(**run: Any) -> dict[str, Any]:
    return {"command": ["bash", "/app/run.sh"], **run}


def test_an_image_outside_the_allowed_prefixes_is_refused(client, admin_caller, model) -> None:
    model["run"] = _run(image="docker.io/evil/miner:latest")
    refused = client.put(URL, json=model, headers=admin_caller.headers)
    assert refused.status_code == 400
    allowed = "ghcr.io/lab/, 123456789012.dkr.ecr.x/lab-"
    assert refused.json["errors"] == {
        "run.image": [f"Must start with one of SHOAL_ALLOWED_IMAGES ({allowed})."]
    }
    assert "docker.io/evil/miner:latest" in refused.json["message"]
    model["run"] = _run(image="ghcr.io/lab/model:1.2")
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    model["run"] = _run()  # no image: local workers only
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 200


@pytest.mark.parametrize(
    ("run", "field", "reason"),
    [
        (_run(environment={"API_TOKEN": "abc"}), "run.environment.API_TOKEN", "run.secrets"),
        (_run(environment={"DB_PASSWORD": "abc"}), "run.environment.DB_PASSWORD", "run.secrets"),
        (_run(environment={"SIGNING_KEY": "abc"}), "run.environment.SIGNING_KEY", "run.secrets"),
        (_run(environment={"SHOAL_API_KEY": "x"}), "run.environment.SHOAL_API_KEY", "set by"),
        (_run(environment={"AWS_REGION": "x"}), "run.environment.AWS_REGION", "set by"),
        (_run(environment={"THREADS": 4}), "run.environment.THREADS.value", "Not a valid string"),
        (_run(environment={"1BAD": "x"}), "run.environment.1BAD", "variable name"),
        (_run(secrets={"TOKEN": "hunter2"}), "run.secrets.TOKEN", "ARN"),
        (_run(secrets={"AWS_SECRET": ARN}), "run.secrets.AWS_SECRET", "set by"),
        (
            _run(environment={"TOKEN_FILE_PATH": "x"}, secrets={"TOKEN_FILE_PATH": ARN}),
            "run.environment.TOKEN_FILE_PATH",
            "run.secrets",
        ),
        (_run(cpu=1024), "run.memory", "Give cpu and memory together"),
        (_run(cpu=1000, memory=2048), "run.cpu", "Fargate cpu units"),
        (_run(cpu=256, memory=4096), "run.memory", "With cpu 256, must be 512-2048"),
        (_run(stopGraceSeconds=600), "run.stopGraceSeconds", "less than or equal to 120"),
    ],
)
def test_environment_and_secrets_rules(client, admin_caller, model, run, field, reason) -> None:
    model["run"] = run
    refused = client.put(URL, json=model, headers=admin_caller.headers)
    assert refused.status_code == 400, refused.json
    assert any(reason in r for r in refused.json["errors"][field]), refused.json


def test_secrets_by_arn_and_plain_environment_are_taken(client, admin_caller, model) -> None:
    model["run"] = _run(
        image="ghcr.io/lab/model:1.2",
        environment={"MODEL_THREADS": "4"},
        secrets={
            "API_TOKEN": ARN,
            "DB_PASSWORD": "arn:aws:ssm:ap-southeast-2:123456789012:parameter/lab/db-password",
        },
        cpu=1024,
        memory=2048,
    )
    taken = client.put(URL, json=model, headers=admin_caller.headers)
    assert taken.status_code == 201, taken.json
    assert taken.json["run"] == {**model["run"], "stopGraceSeconds": 10}


@pytest.mark.parametrize(("given", "allowed"), [(None, "*"), ("ghcr.io/lab/", "ghcr.io/lab/")])
def test_shoal_dev_allows_any_image_unless_told_otherwise(
    tmp_path, monkeypatch, given, allowed
) -> None:
    monkeypatch.delenv("SHOAL_ALLOWED_IMAGES", raising=False)
    if given is not None:
        monkeypatch.setenv("SHOAL_ALLOWED_IMAGES", given)
    env = _environment(tmp_path, 5000, "postgresql://shoal@localhost/shoal")
    assert env["SHOAL_ALLOWED_IMAGES"] == allowed


def test_a_batch_refusal_names_its_detail_once(client, admin_caller, analyst, model) -> None:
    """A refusal whose message already names its field (a pattern that takes too long)
    is not given the same detail a second time."""
    model.pop("exampleInput")
    model["inputSchema"] = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
    }
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    refused = client.post(
        "/api/jobs/batch",
        json={"type": "MY_MODEL", "inputs": [{"code": "aaa"}, {"code": "a" * 5000 + "!"}]},
        headers=analyst.headers,
    )
    assert refused.status_code == 400, refused.json
    message = refused.json["message"]
    assert message.startswith("input 2 could not be checked"), message
    assert message.count("takes too long") == 1, message
