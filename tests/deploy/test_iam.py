"""Least privilege: no wildcard resource where tasks are launched, roles passed or S3 written."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.deploy.synth import Synthesized, render

pytest.importorskip("aws_cdk")

# Actions that must never be granted on every resource; also caught when a wildcard
# action such as "s3:Put*" or "ecs:*" would include them.
GUARDED = ("ecs:RunTask", "iam:PassRole", "s3:PutObject", "s3:DeleteObject", "s3:PutBucketPolicy")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(app: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every AWS::IAM::Policy, with the policy's logical id."""
    for name, policy in app.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def _guarded(actions: list[str]) -> set[str]:
    return {guarded for action in actions for guarded in GUARDED if fnmatchcase(guarded, action)}


@pytest.mark.parametrize("variant", ["http_app", "https_app"])
def test_no_wildcard_resource_on_guarded_actions(
    variant: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    checked = set()
    for name, statement in _statements(app):
        actions = _as_list(statement["Action"])
        guarded = _guarded(actions)
        if not guarded:
            continue
        checked |= guarded
        resources = _as_list(statement["Resource"])
        assert "*" not in resources, f"{name} grants {actions} on *"
        assert statement["Effect"] == "Allow"
    # The walk saw the statements it guards, so it cannot pass by finding nothing.
    assert {"ecs:RunTask", "iam:PassRole", "s3:PutObject"} <= checked


def test_no_policy_grants_every_action(http_app: Synthesized) -> None:
    for name, statement in _statements(http_app):
        assert "*" not in _as_list(statement["Action"]), name
    assert not http_app.resources("AWS::IAM::ManagedPolicy")


def _statement_with(app: Synthesized, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, statement)
        for name, statement in _statements(app)
        if action in _as_list(statement["Action"])
    ]


def test_run_task_only_on_worker_families_in_the_cluster(http_app: Synthesized) -> None:
    [(policy, statement)] = _statement_with(http_app, "ecs:RunTask")
    assert policy.startswith("ManagerTaskDefTaskRole")
    resources = sorted(render(resource) for resource in _as_list(statement["Resource"]))
    assert len(resources) == 2
    assert resources[0].endswith(":task-definition/shoaltest-worker-polygon-stats:*")
    assert resources[1].endswith(":task-definition/shoaltest-worker-test:*")
    assert "ecs:cluster" in statement["Condition"]["ArnEquals"]


def test_pass_role_only_the_worker_roles(http_app: Synthesized) -> None:
    [(policy, statement)] = _statement_with(http_app, "iam:PassRole")
    assert policy.startswith("ManagerTaskDefTaskRole")
    roles = {render(resource) for resource in _as_list(statement["Resource"])}
    assert len(roles) == 2
    assert all(role.startswith("<WorkersTaskRole") or role.startswith("<WorkersExecutionRole")
               for role in roles)  # fmt: skip
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


def test_workers_write_only_under_the_results_prefix(http_app: Synthesized) -> None:
    [(policy, statement)] = _statement_with(http_app, "s3:PutObject")
    assert policy.startswith("WorkersTaskRole")
    assert set(_as_list(statement["Action"])) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    [resource] = _as_list(statement["Resource"])
    assert render(resource).endswith("/results/*")


def test_webapi_reads_results_and_manages_only_the_worker_service(http_app: Synthesized) -> None:
    [(_, get)] = _statement_with(http_app, "s3:GetObject")
    assert render(get["Resource"]).endswith("/results/*")
    [(_, listing)] = _statement_with(http_app, "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["results/*"]}}
    [(policy, update)] = _statement_with(http_app, "ecs:UpdateService")
    assert policy.startswith("WebApiTaskDefTaskRole")
    assert render(update["Resource"]).startswith("<WorkersService")


def test_list_tasks_is_held_to_the_cluster(http_app: Synthesized) -> None:
    [(policy, statement)] = _statement_with(http_app, "ecs:ListTasks")
    assert policy.startswith("ManagerTaskDefTaskRole")
    assert statement["Resource"] == "*"
    assert "ecs:cluster" in statement["Condition"]["ArnEquals"]


@pytest.mark.parametrize("variant", ["http_app", "https_app"])
def test_only_the_webapi_and_first_admin_read_the_database_secret(
    variant: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    readers = set()
    for name, statement in _statements(app):
        if not _guarded_secret_read(_as_list(statement["Action"])):
            continue
        resources = [render(resource) for resource in _as_list(statement["Resource"])]
        assert "*" not in resources, f"{name} reads every secret"
        if any(resource.startswith("<DatabaseSecret") for resource in resources):
            readers.add(name.split("TaskDef")[0])
    assert readers == {"WebApi", "FirstAdmin"}


def _guarded_secret_read(actions: list[str]) -> bool:
    return any(fnmatchcase("secretsmanager:GetSecretValue", action) for action in actions)
