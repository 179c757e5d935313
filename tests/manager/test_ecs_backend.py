"""The ECS backend against moto: launches in RunTask calls of at most 10, tags and
overrides on every task, the fleet read back by a new backend instance, DescribeTasks
in chunks of 100, and tasks that failed to start reported once.

botocore's Stubber stands in only where moto cannot answer: ThrottlingException and
RunTask ``failures[]``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from manager.backends.base import FleetUnavailable, WorkerStatus
from manager.backends.ecs_tasks import STARTED_BY, tags_of
from tests.manager.ecs_support import (
    CLUSTER,
    REGION,
    CallCounter,
    Sleeps,
    backend,
    ecs_world,
    register_task_definition,
    target,
)


@pytest.fixture
def ecs() -> Any:
    with ecs_world() as client:
        yield client


def test_launch_in_chunks_of_ten_with_tags_and_overrides(ecs: Any) -> None:
    td = register_task_definition(ecs)
    calls = CallCounter(ecs)
    result = backend(ecs, {"TEST": target(td)}, holder="host:1:abc").launch(
        "TEST", 25, generation=4
    )
    assert len(result.launched) == 25 and result.failures == ()
    assert calls.calls["RunTask"] == 3

    arns = ecs.list_tasks(cluster=CLUSTER, startedBy=STARTED_BY)["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns[:5], include=["TAGS"])["tasks"]
    for task in tasks:
        assert tags_of(task) == {
            "shoal:job-type": "TEST",
            "shoal:managed-by": "host:1:abc",
            "shoal:generation": "4",
        }
        [override] = task["overrides"]["containerOverrides"]
        env = {item["name"]: item["value"] for item in override["environment"]}
        assert override["name"] == "worker"
        assert env == {
            "LOG_LEVEL": "debug",
            "SHOAL_JOB_TYPES": "TEST",
            "SHOAL_API_URL": "http://api.internal:5000",
        }
        assert task["launchType"] == "FARGATE" and task["startedBy"] == STARTED_BY


def test_capacity_provider_strategy_is_sent_instead_of_launch_type(ecs: Any) -> None:
    td = register_task_definition(ecs)
    strategy = ({"capacityProvider": "FARGATE_SPOT", "weight": 1},)
    one = target(td, launch_type=None, capacity_provider_strategy=strategy)
    sent: list[dict[str, Any]] = []
    ecs.meta.events.register(
        "provide-client-params.ecs.RunTask", lambda params, **_: sent.append(dict(params))
    )
    backend(ecs, {"TEST": one}).launch("TEST", 1)
    assert sent[0]["capacityProviderStrategy"] == [dict(strategy[0])]
    assert "launchType" not in sent[0] and sent[0]["enableECSManagedTags"] is True


def test_a_new_backend_instance_reads_the_fleet_back(ecs: Any) -> None:
    td_a, td_b = register_task_definition(ecs, "a"), register_task_definition(ecs, "b")
    targets = {"TEST": target(td_a), "POLYGON_STATS": target(td_b)}
    first = backend(ecs, targets, holder="first")
    first.launch("TEST", 3)
    first.launch("POLYGON_STATS", 2)
    # Another tool's task in the same cluster is not part of the fleet.
    ecs.run_task(
        cluster=CLUSTER, taskDefinition=td_a, startedBy="someone-else", launchType="FARGATE"
    )

    fleet = backend(ecs, targets, holder="restarted").fleet()
    assert len(fleet.of_type("TEST")) == 3 and len(fleet.of_type("POLYGON_STATS")) == 2
    assert len(fleet.workers) == 5
    assert all(w.status is WorkerStatus.RUNNING and w.started_at.tzinfo for w in fleet.workers)


def test_describe_tasks_is_chunked_by_100(ecs: Any) -> None:
    td = register_task_definition(ecs)
    launcher = backend(ecs, {"TEST": target(td)})
    launcher.launch("TEST", 230)
    calls = CallCounter(ecs)
    fleet = backend(ecs, {"TEST": target(td)}).fleet()
    assert len(fleet.workers) == 230
    assert calls.calls["DescribeTasks"] == 3  # 100 + 100 + 30; nothing stopped to describe


def test_tasks_that_failed_to_start_are_reported_once(ecs: Any) -> None:
    td = register_task_definition(ecs)
    one = backend(ecs, {"TEST": target(td)})
    launched = one.launch("TEST", 3).launched
    ecs.stop_task(
        cluster=CLUSTER,
        task=launched[0].task_arn,
        reason="CannotPullContainerError: pull access denied",
    )
    ecs.stop_task(
        cluster=CLUSTER, task=launched[1].task_arn, reason="Essential container in task exited"
    )

    fleet = one.fleet()
    assert [w.task_arn for w in fleet.workers] == [launched[2].task_arn]
    [failure] = fleet.failures
    assert failure.job_type == "TEST" and failure.task_arn == launched[0].task_arn
    assert "CannotPullContainerError" in failure.reason
    assert one.fleet().failures == ()


def test_run_task_failures_are_returned_and_stop_the_batch() -> None:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_response(
        "run_task",
        {
            "tasks": [],
            "failures": [
                {"arn": "arn:aws:ecs:::container-instance/1", "reason": "RESOURCE:MEMORY"}
            ],
        },
    )
    with stub:
        result = backend(client, {"TEST": target("td")}).launch("TEST", 25)
    stub.assert_no_pending_responses()  # one call only: the next 15 are not even tried
    assert result.launched == ()
    [failure] = result.failures
    assert failure.reason == "RESOURCE:MEMORY" and failure.job_type == "TEST"


def test_refused_run_task_is_a_failure_not_an_exception() -> None:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_client_error("run_task", "AccessDeniedException", "not allowed")
    with stub:
        result = backend(client, {"TEST": target("td")}).launch("TEST", 2)
    assert [f.reason for f in result.failures] == ["AccessDeniedException: not allowed"]


def test_throttling_backs_off_and_retries() -> None:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    params = {"cluster": CLUSTER, "startedBy": STARTED_BY, "desiredStatus": "RUNNING"}
    stub.add_client_error(
        "list_tasks", "ThrottlingException", "Rate exceeded", expected_params=params
    )
    stub.add_client_error(
        "list_tasks", "ThrottlingException", "Rate exceeded", expected_params=params
    )
    stub.add_response("list_tasks", {"taskArns": []}, params)
    stub.add_response("list_tasks", {"taskArns": []}, {**params, "desiredStatus": "STOPPED"})
    sleeps = Sleeps()
    with stub:
        fleet = backend(client, {"TEST": target("td")}, sleeps).fleet()
    assert fleet.workers == ()
    assert sleeps.slept == [0.5, 1.0]


def test_throttling_gives_up_after_max_retries() -> None:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    for _ in range(3):
        stub.add_client_error("list_tasks", "ThrottlingException", "Rate exceeded")
    sleeps = Sleeps()
    with stub, pytest.raises(FleetUnavailable, match="ThrottlingException"):
        backend(client, {"TEST": target("td")}, sleeps, max_retries=2).fleet()
    assert sleeps.slept == [0.5, 1.0]


def test_calls_are_kept_within_the_api_rate(ecs: Any) -> None:
    td = register_task_definition(ecs)
    sleeps = Sleeps()
    launcher = backend(ecs, {"TEST": target(td)}, sleeps, calls_per_second=20.0)
    launcher.launch("TEST", 10 * 30)  # 30 RunTask calls on a clock that stands still
    # 20 calls ride the initial burst; each of the other 10 waits for 1/20 s.
    assert len(sleeps.slept) == 10
    assert sleeps.now == pytest.approx(10 / 20)


def test_failures_from_before_this_manager_started_are_not_counted() -> None:
    """moto sets no stoppedAt, so a Stubber answers with one old and one new failure."""
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    fresh = backend(client, {"TEST": target("td")})
    reason = "CannotPullContainerError: pull access denied"
    tags = [{"key": "shoal:job-type", "value": "TEST"}]
    tasks = [
        {
            "taskArn": f"arn:{n}",
            "lastStatus": "STOPPED",
            "stoppedReason": reason,
            "tags": tags,
            "stoppedAt": fresh.started_at + timedelta(minutes=offset),
        }
        for n, offset in ((1, -30), (2, 1))
    ]
    stub.add_response("list_tasks", {"taskArns": []})
    stub.add_response("list_tasks", {"taskArns": ["arn:1", "arn:2"]})
    stub.add_response("describe_tasks", {"tasks": tasks, "failures": []})
    with stub:
        fleet = fresh.fleet()
    stub.assert_no_pending_responses()
    assert [(f.task_arn, f.job_type, f.reason) for f in fleet.failures] == [
        ("arn:2", "TEST", reason)
    ]
    assert fleet.workers == ()


def test_the_fleet_is_read_from_every_page_of_list_tasks() -> None:
    """ECS answers ListTasks 100 at a time (moto in one page): a Stubber gives three pages."""
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    reader = backend(client, {"TEST": target("td")})
    arns = [f"arn:aws:ecs:task/{n}" for n in range(230)]
    listing = {"cluster": CLUSTER, "startedBy": STARTED_BY, "desiredStatus": "RUNNING"}
    tokens = [None, "page-2", "page-3", None]
    for page, start in enumerate((0, 100, 200)):
        answer: dict[str, Any] = {"taskArns": arns[start : start + 100]}
        if tokens[page + 1]:
            answer["nextToken"] = tokens[page + 1]
        asked = listing | ({"nextToken": tokens[page]} if tokens[page] else {})
        stub.add_response("list_tasks", answer, asked)
    for start in (0, 100, 200):
        chunk = arns[start : start + 100]
        tasks = [
            {
                "taskArn": arn,
                "lastStatus": "RUNNING",
                "tags": [{"key": "shoal:job-type", "value": "TEST"}],
                "startedAt": datetime.now(UTC),
            }
            for arn in chunk
        ]
        asked_for = {"cluster": CLUSTER, "tasks": chunk, "include": ["TAGS"]}
        stub.add_response("describe_tasks", {"tasks": tasks, "failures": []}, asked_for)
    stub.add_response("list_tasks", {"taskArns": []}, listing | {"desiredStatus": "STOPPED"})
    with stub:
        fleet = reader.fleet()
    stub.assert_no_pending_responses()
    assert [w.task_arn for w in fleet.workers] == arns
