"""Registered job types on ECS, against moto's server over HTTP: one task definition per
run spec, copied from the base worker task definition, registered once and reused —
also by a restarted manager, which finds it by its tag — and the one RunTask uses.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.moto_api import state_manager

from manager.backends.ecs import EcsBackend
from manager.backends.ecs_tasks import STARTED_BY
from manager.backends.ecs_types import TAG_CONTENT_HASH
from manager.targets import RegisteredEcs
from shared.jobtypes.document import RegisteredType
from tests.manager.ecs_support import CLUSTER, REGION, CallCounter, Sleeps, target
from tests.support.aws import MotoServer, fake_credentials

FAMILY = "shoal-type-my-model"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf"
API_KEY = "arn:aws:secretsmanager:us-east-1:123456789012:secret:worker-key-XyZ"
TASK_ROLE = "arn:aws:iam::123456789012:role/shoal-worker-task"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/shoal-worker-execution"


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    fake_credentials(monkeypatch, tmp_path)
    # moto walks RUNNING tasks towards STOPPED on every describe unless told not to.
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )
    server = MotoServer()
    server.start()
    # moto keeps its state in this process: start from an empty account.
    reset = urllib.request.Request(f"{server.url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    try:
        yield server.url
    finally:
        server.stop()
        state_manager.unset_transition(model_name="ecs::task")


def ecs_client(url: str) -> Any:
    return boto3.client("ecs", region_name=REGION, endpoint_url=url)


@pytest.fixture
def base(moto_url: str) -> str:
    """The base worker task definition, as the CDK stack makes it (bridge: see ecs_support)."""
    ecs = ecs_client(moto_url)
    ecs.create_cluster(clusterName=CLUSTER)
    arn: str = ecs.register_task_definition(
        family="shoal-worker-base",
        networkMode="bridge",
        taskRoleArn=TASK_ROLE,
        executionRoleArn=EXECUTION_ROLE,
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "shoal/worker",
                "essential": True,
                "memory": 512,
                "command": ["shoal", "worker"],
                "environment": [{"name": "SHOAL_STORAGE", "value": "s3"}],
                "secrets": [{"name": "SHOAL_API_KEY", "valueFrom": API_KEY}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/base", "awslogs-stream-prefix": "worker"},
                },
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


RUN = {
    "command": ["bash", "/app/run.sh"],
    "image": "registry.example.org/lab/model:1.2",
    "environment": {"MODEL_THREADS": "4"},
    "secrets": {"API_TOKEN": SECRET},
    "cpu": 1024,
    "memory": 2048,
}
# The worker container of RUN's task definition: the base's, with the type's added.
DERIVED_ENVIRONMENT = {"MODEL_THREADS": "4", "SHOAL_JOB_TYPES": "MY_MODEL", "SHOAL_STORAGE": "s3"}
DERIVED_SECRETS = {"API_TOKEN": SECRET, "SHOAL_API_KEY": API_KEY}


def registered_type(name: str = "MY_MODEL", **run: Any) -> RegisteredType:
    spec = {**RUN, **run}
    return RegisteredType.from_wire({"name": name, "inputSchema": {"type": "object"}, "run": spec})


def types_backend(
    url: str, base_arn: str, run_of: Callable[[str], RegisteredType | None], **kwargs: Any
) -> tuple[EcsBackend, CallCounter]:
    """A backend with its own client: a new one is a restarted manager."""
    client = ecs_client(url)
    calls = CallCounter(client)
    sleeps = Sleeps()
    found = EcsBackend(
        {},
        api_url="http://api.internal:5000",
        holder="manager-a",
        client=client,
        clock=sleeps.clock,
        sleep=sleeps.sleep,
        registered=RegisteredEcs(target(base_arn, environment={})),
        run_of=run_of,
        **kwargs,
    )
    return found, calls


def revisions(url: str) -> list[str]:
    arns: list[str] = ecs_client(url).list_task_definitions(familyPrefix=FAMILY)[
        "taskDefinitionArns"
    ]
    return arns


def by_name(items: list[dict[str, str]], value: str) -> dict[str, str]:
    return {item["name"]: item[value] for item in items}


def test_one_task_definition_per_run_spec_reused_and_used_by_run_task(
    moto_url: str, base: str
) -> None:
    current = registered_type()
    backend, calls = types_backend(moto_url, base, {"MY_MODEL": current}.get)
    first = backend.launch("MY_MODEL", 2)
    again = backend.launch("MY_MODEL", 1)
    assert len(first.launched) == 2 and len(again.launched) == 1
    assert first.failures == again.failures == ()
    assert calls.calls["RegisterTaskDefinition"] == 1 and calls.calls["RunTask"] == 2
    # The second launch took the ARN from memory: no listing, no describing.
    assert calls.calls["ListTaskDefinitions"] == 1
    [arn] = revisions(moto_url)

    ecs = ecs_client(moto_url)
    task_arns = ecs.list_tasks(cluster=CLUSTER, startedBy=STARTED_BY)["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=task_arns)["tasks"]
    assert len(tasks) == 3 and {task["taskDefinitionArn"] for task in tasks} == {arn}
    described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    definition = described["taskDefinition"]
    assert definition["family"] == FAMILY
    assert (definition["cpu"], definition["memory"]) == ("1024", "2048")
    assert (definition["taskRoleArn"], definition["executionRoleArn"]) == (
        TASK_ROLE,
        EXECUTION_ROLE,
    )
    [container] = definition["containerDefinitions"]
    assert container["image"] == "registry.example.org/lab/model:1.2"
    assert "command" not in container and container["memory"] == 2048
    assert by_name(container["environment"], "value") == DERIVED_ENVIRONMENT
    assert by_name(container["secrets"], "valueFrom") == DERIVED_SECRETS
    assert container["logConfiguration"]["options"]["awslogs-stream-prefix"] == FAMILY
    tags = {tag["key"]: tag["value"] for tag in described["tags"]}
    assert tags["shoal:job-type"] == "MY_MODEL" and len(tags[TAG_CONTENT_HASH]) == 64


def test_a_changed_run_spec_gets_a_new_revision_and_the_rest_of_the_type_does_not(
    moto_url: str, base: str
) -> None:
    types = {"MY_MODEL": registered_type()}
    backend, calls = types_backend(moto_url, base, types.get)
    backend.launch("MY_MODEL", 1)
    # Only the run spec goes into the task definition: a new description changes nothing.
    doc = {**types["MY_MODEL"].document, "description": "Now documented."}
    types["MY_MODEL"] = RegisteredType.from_wire(doc)
    backend.launch("MY_MODEL", 1)
    assert calls.calls["RegisterTaskDefinition"] == 1

    types["MY_MODEL"] = registered_type(image="registry.example.org/lab/model:1.3")
    result = backend.launch("MY_MODEL", 1)
    assert calls.calls["RegisterTaskDefinition"] == 2
    assert [arn.rsplit(":", 1)[-1] for arn in revisions(moto_url)] == ["1", "2"]
    [task] = ecs_client(moto_url).describe_tasks(
        cluster=CLUSTER, tasks=[result.launched[0].task_arn]
    )["tasks"]
    assert task["taskDefinitionArn"] == f"{revisions(moto_url)[1]}"


def test_a_restarted_manager_finds_the_revision_by_its_tag(moto_url: str, base: str) -> None:
    types = {"MY_MODEL": registered_type()}
    first, _ = types_backend(moto_url, base, types.get)
    first.launch("MY_MODEL", 1)
    types["MY_MODEL"] = registered_type(memory=4096)
    first.launch("MY_MODEL", 1)
    old, new = revisions(moto_url)

    restarted, calls = types_backend(moto_url, base, types.get)
    restarted.launch("MY_MODEL", 1)
    # Back to the first spec: an older revision, still found among the newest few.
    types["MY_MODEL"] = registered_type()
    restarted.launch("MY_MODEL", 1)
    assert calls.calls["RegisterTaskDefinition"] == 0
    assert revisions(moto_url) == [old, new]
    fleet = ecs_client(moto_url).describe_tasks(
        cluster=CLUSTER,
        tasks=ecs_client(moto_url).list_tasks(cluster=CLUSTER)["taskArns"],
    )["tasks"]
    used = sorted(task["taskDefinitionArn"] for task in fleet)
    assert used == sorted([old, new, new, old])


def refuse(client: Any, operation: str, code: str) -> None:
    """ECS answers ``operation`` with a 400 ``code`` (as when IAM denies it)."""

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Code": code, "Message": f"not authorized to perform ecs:{operation}"}
        return SimpleNamespace(status_code=400), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    client.meta.events.register(f"before-call.ecs.{operation}", answer)


def test_a_refused_registration_is_a_failed_launch_and_nothing_runs(
    moto_url: str, base: str
) -> None:
    backend, calls = types_backend(moto_url, base, {"MY_MODEL": registered_type()}.get)
    refuse(backend.ecs, "RegisterTaskDefinition", "AccessDeniedException")
    result = backend.launch("MY_MODEL", 3)
    assert result.launched == ()
    [failure] = result.failures
    assert failure.job_type == "MY_MODEL"
    assert failure.reason.startswith("task definition: AccessDeniedException")
    assert calls.calls["RunTask"] == 0 and revisions(moto_url) == []
    assert ecs_client(moto_url).list_tasks(cluster=CLUSTER)["taskArns"] == []


def test_what_cannot_run_on_ecs_is_a_failed_launch_naming_why(moto_url: str, base: str) -> None:
    types = {
        "NO_IMAGE": registered_type("NO_IMAGE", image=None),
        "MY_MODEL": registered_type(),
    }
    backend, calls = types_backend(moto_url, base, types.get)
    [failure] = backend.launch("NO_IMAGE", 1).failures
    assert failure.reason == "job type NO_IMAGE has no run.image to run on ECS"
    [failure] = backend.launch("UNKNOWN", 1).failures
    assert failure.reason == "job type UNKNOWN has no ECS target and no run spec"
    client = ecs_client(moto_url)
    unconfigured = EcsBackend({}, api_url="http://api", holder="m", client=client, run_of=types.get)
    [failure] = unconfigured.launch("MY_MODEL", 1).failures
    assert "the settings document needs registered.ecs" in failure.reason
    assert calls.calls["RunTask"] == 0 and client.list_tasks(cluster=CLUSTER)["taskArns"] == []


def test_the_fleet_of_registered_types_is_read_back_and_stopped_in_their_cluster(
    moto_url: str, base: str
) -> None:
    """No settings target names the type: its cluster is registered.ecs's."""
    types = {"MY_MODEL": registered_type()}
    types_backend(moto_url, base, types.get)[0].launch("MY_MODEL", 2)
    restarted, _ = types_backend(moto_url, base, types.get)
    workers = restarted.fleet().of_type("MY_MODEL")
    assert len(workers) == 2
    restarted.stop(workers[:1], "idle")
    [task] = ecs_client(moto_url).describe_tasks(cluster=CLUSTER, tasks=[workers[0].task_arn])[
        "tasks"
    ]
    assert task["desiredStatus"] == "STOPPED"
