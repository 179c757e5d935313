"""Least privilege: no wildcard resource where tasks are launched, roles passed or S3 written."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

from manager.backends.ecs_types import TAG_CONTENT_HASH
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


def test_run_task_only_on_worker_and_type_families_in_the_cluster(http_app: Synthesized) -> None:
    [(policy, statement)] = _statement_with(http_app, "ecs:RunTask")
    assert policy.startswith("ManagerTaskDefTaskRole")
    resources = sorted(render(resource) for resource in _as_list(statement["Resource"]))
    assert len(resources) == 3
    # The families the manager registers for registered types (manager/backends/ecs_types.py).
    assert resources[0].endswith(":task-definition/shoaltest-type-*:*")
    assert resources[1].endswith(":task-definition/shoaltest-worker-polygon-stats:*")
    assert resources[2].endswith(":task-definition/shoaltest-worker-test:*")
    assert "ecs:cluster" in statement["Condition"]["ArnEquals"]


def _every_statement(app: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement anywhere in both templates (policies, roles' inline policies,
    bucket and key policies), with the logical id of the resource holding it."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict):
            if "Effect" in value and ("Action" in value or "NotAction" in value):
                yield where, value
            for inner in value.values():
                yield from walk(inner, where)
        elif isinstance(value, list):
            for inner in value:
                yield from walk(inner, where)

    for template in (app.platform, app.secrets):
        for name, resource in template["Resources"].items():
            yield from walk(resource, name)


@pytest.mark.parametrize("variant", ["http_app", "https_app"])
def test_no_wildcard_pass_role_anywhere(variant: str, request: pytest.FixtureRequest) -> None:
    """No role may be passed by a pattern: neither "*" nor an ARN with a wildcard in it."""
    app: Synthesized = request.getfixturevalue(variant)
    passing = []
    for name, statement in _every_statement(app):
        if statement["Effect"] != "Allow":
            continue
        assert "NotAction" not in statement, f"{name} allows every action but some"
        if not any(fnmatchcase("iam:PassRole", a) for a in _as_list(statement["Action"])):
            continue
        assert "NotResource" not in statement, f"{name} passes every role but some"
        for resource in _as_list(statement["Resource"]):
            assert "*" not in render(resource), f"{name} passes {render(resource)}"
        passing.append(name)
    assert [name[: len("ManagerTaskDefTaskRole")] for name in passing] == ["ManagerTaskDefTaskRole"]


def test_the_manager_registers_type_task_definitions_and_nothing_broader(
    http_app: Synthesized,
) -> None:
    manager = [
        statement
        for name, statement in _statements(http_app)
        if name.startswith("ManagerTaskDefTaskRole")
    ]
    # IAM scopes none of these by resource (ListTasks is held to the cluster instead).
    on_everything = {
        action
        for statement in manager
        if "*" in _as_list(statement["Resource"])
        for action in _as_list(statement["Action"])
    }
    assert on_everything == {
        "ecs:ListTasks",
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTaskDefinitions",
    }
    [(_, register)] = _statement_with(http_app, "ecs:RegisterTaskDefinition")
    assert register["Condition"] == {"Null": {f"aws:RequestTag/{TAG_CONTENT_HASH}": "false"}}
    tagging = {
        statement["Condition"]["StringEquals"]["ecs:CreateAction"]: [
            render(resource) for resource in _as_list(statement["Resource"])
        ]
        for statement in manager
        if "ecs:TagResource" in _as_list(statement["Action"])
    }
    assert set(tagging) == {"RunTask", "RegisterTaskDefinition"}
    [families] = tagging["RegisterTaskDefinition"]
    assert families.endswith(":task-definition/shoaltest-type-*:*")
    # Every other pattern is a family's revisions or the cluster's tasks.
    patterns = {
        render(resource).split("<AWS::AccountId>:", 1)[-1]
        for statement in manager
        for resource in _as_list(statement["Resource"])
        if resource != "*" and "*" in render(resource)
    }
    [tasks] = [pattern for pattern in patterns if pattern.startswith("task/")]
    assert tasks.startswith("task/<NetworkCluster") and tasks.endswith(">/*")
    assert patterns - {tasks} == {
        "task-definition/shoaltest-type-*:*",
        "task-definition/shoaltest-worker-test:*",
        "task-definition/shoaltest-worker-polygon-stats:*",
    }


def test_the_execution_role_reads_only_the_types_secrets_and_repositories(
    http_app: Synthesized,
) -> None:
    readers: dict[str, list[str]] = {}
    for name, statement in _statements(http_app):
        actions = _as_list(statement["Action"])
        for action in ("secretsmanager:GetSecretValue", "ssm:GetParameters", "ecr:BatchGetImage"):
            if action in actions:
                resources = [render(resource) for resource in _as_list(statement["Resource"])]
                role = name.split("DefaultPolicy")[0]
                readers.setdefault(f"{role} {action}", []).extend(resources)
    wildcards = {
        key: [resource for resource in resources if "*" in resource]
        for key, resources in readers.items()
        if key.startswith("WorkersExecutionRole")
    }
    assert wildcards["WorkersExecutionRole secretsmanager:GetSecretValue"] == [
        "arn:<AWS::Partition>:secretsmanager:eu-west-1:<AWS::AccountId>:secret:shoaltest/types/*"
    ]
    assert wildcards["WorkersExecutionRole ssm:GetParameters"] == [
        "arn:<AWS::Partition>:ssm:eu-west-1:<AWS::AccountId>:parameter/shoaltest/types/*"
    ]
    pulls = readers["WorkersExecutionRole ecr:BatchGetImage"]
    assert any(resource.endswith(":repository/lab/models") for resource in pulls)
    # Only the ECS agent reads them: the worker's own role (its program) reads no secret.
    assert not any(key.startswith("WorkersTaskRole") for key in readers)


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
