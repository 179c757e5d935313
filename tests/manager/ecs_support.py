"""A moto ECS world for the manager's tests: a cluster, a task definition, counted calls.

moto's ``Task`` breaks on ``awsvpc`` task definitions (it needs an ENI attribute it
lacks), so the task definition here uses bridge networking; the backend still sends
its awsvpc network configuration, which moto accepts and ignores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_api import state_manager

from manager.backends.ecs import EcsBackend
from manager.targets import EcsTarget

REGION = "us-east-1"
CLUSTER = "shoal-test"


@contextmanager
def ecs_world() -> Iterator[Any]:
    """A mocked ECS client whose tasks stay in the state they were put in."""
    # moto walks RUNNING tasks towards STOPPED on every describe unless told not to.
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )
    try:
        with mock_aws():
            client = boto3.client("ecs", region_name=REGION)
            client.create_cluster(clusterName=CLUSTER)
            yield client
    finally:
        state_manager.unset_transition(model_name="ecs::task")


def register_task_definition(client: Any, family: str = "shoal-worker") -> str:
    arn: str = client.register_task_definition(
        family=family,
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "shoal/worker",
                "essential": True,
                "memory": 512,
                "cpu": 256,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def target(task_definition: str, **overrides: Any) -> EcsTarget:
    fields: dict[str, Any] = {
        "task_definition": task_definition,
        "cluster": CLUSTER,
        "subnets": ("subnet-1",),
        "security_groups": ("sg-1",),
        "assign_public_ip": True,
        "container_name": "worker",
        "environment": {"LOG_LEVEL": "debug"},
    }
    fields.update(overrides)
    return EcsTarget(**fields)


class CallCounter:
    """Counts ECS operations by name, as the backend sends them."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.ecs", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


class Sleeps:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def backend(
    client: Any, targets: dict[str, EcsTarget], sleeps: Sleeps | None = None, **kwargs: Any
) -> EcsBackend:
    sleeps = sleeps or Sleeps()
    return EcsBackend(
        targets,
        api_url="http://api.internal:5000",
        holder=kwargs.pop("holder", "manager-a"),
        client=client,
        clock=sleeps.clock,
        sleep=sleeps.sleep,
        **kwargs,
    )
