"""A task definition per registered job type, copied from the base worker task definition.

A registered type's run spec (image, cpu, memory, environment, secrets) becomes a task
definition revision of the family ``<prefix><name in lower case, _ as ->``, tagged
with a hash of what it was made from. It is registered once per hash: the map here is
only a cache, and a manager that restarts finds the revision again by listing the
family and reading the tags, newest first, before it registers another.

The container keeps the image's own entry point (every type image starts
``shoal worker``); ``SHOAL_JOB_TYPES`` tells the worker which type it serves, and the
worker runs the type's ``run.command`` for each job.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from manager.backends.ecs_tasks import TAG_JOB_TYPE, tags_of
from manager.targets import RegisteredEcs
from shared.jobtypes.document import RegisteredType

log = logging.getLogger(__name__)
Call = Callable[[str, Callable[[], Any]], Any]

TAG_CONTENT_HASH = "shoal:content-hash"
# How many of a family's newest revisions a restarted manager reads before registering.
LOOKUP_LIMIT = 10
# What RegisterTaskDefinition takes back from DescribeTaskDefinition's answer.
REGISTERABLE = (
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


class NotRunnable(Exception):
    """A registered type this backend cannot launch; the message says why."""


def family_of(prefix: str, name: str) -> str:
    return f"{prefix}{name.lower().replace('_', '-')}"


def content_hash(base_arn: str, container: str, registered: RegisteredType) -> str:
    """What the task definition is made from: the base's ARN, the container, the run spec."""
    made_of = {
        "base": base_arn,
        "container": container,
        "name": registered.name,
        "run": registered.document["run"],
    }
    canonical = json.dumps(made_of, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def derived_definition(
    base: Mapping[str, Any], container: str, family: str, registered: RegisteredType, digest: str
) -> dict[str, Any]:
    """The RegisterTaskDefinition request for one type, from the base's description."""
    run = registered.document["run"]
    request: dict[str, Any] = {key: base[key] for key in REGISTERABLE if key in base}
    request["family"] = family
    definitions = [dict(item) for item in base["containerDefinitions"]]
    found = [item for item in definitions if item.get("name") == container]
    if not found:
        raise NotRunnable(f"the base task definition has no container named {container!r}")
    [worker] = found
    worker["image"] = run["image"]
    worker.pop("command", None)
    worker.pop("entryPoint", None)
    environment = {e["name"]: e["value"] for e in worker.get("environment", [])}
    environment.update(run["environment"])
    environment["SHOAL_JOB_TYPES"] = registered.name
    worker["environment"] = [{"name": k, "value": v} for k, v in sorted(environment.items())]
    secrets = {s["name"]: s["valueFrom"] for s in worker.get("secrets", [])}
    secrets.update(run["secrets"])
    worker["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())]
    if run["cpu"] is not None:
        request["cpu"], request["memory"] = str(run["cpu"]), str(run["memory"])
        # The worker container's own sizes give way to the type's task size.
        worker.pop("cpu", None)
        worker.pop("memoryReservation", None)
        if "memory" in worker:
            worker["memory"] = run["memory"]
    logging_options = worker.get("logConfiguration", {}).get("options")
    if isinstance(logging_options, dict) and "awslogs-stream-prefix" in logging_options:
        worker["logConfiguration"] = {
            **worker["logConfiguration"],
            "options": {**logging_options, "awslogs-stream-prefix": family},
        }
    request["containerDefinitions"] = definitions
    request["tags"] = [
        {"key": TAG_CONTENT_HASH, "value": digest},
        {"key": TAG_JOB_TYPE, "value": registered.name},
    ]
    return request


def _revision(arn: str) -> int:
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class TypeDefinitions:
    """The task definition ARN of each registered type's current run spec.

    ``call(operation, request)`` runs one ECS request under the backend's rate limit,
    throttling retries and time budget; its errors reach the caller.
    """

    def __init__(self, ecs: Any, call: Call, registered: RegisteredEcs) -> None:
        self.ecs = ecs
        self.call = call
        self.registered = registered
        self._base: dict[str, Any] | None = None
        self._arns: dict[str, str] = {}  # content hash -> task definition ARN
        self.registrations = 0

    def arn_for(self, registered: RegisteredType) -> str:
        """Find or register the type's task definition; NotRunnable if it cannot run here."""
        run = registered.document["run"]
        if run is None or not run["image"]:
            raise NotRunnable(f"job type {registered.name} has no run.image to run on ECS")
        base = self._base_definition()
        container = self.registered.target.container_name
        digest = content_hash(base["taskDefinitionArn"], container, registered)
        if digest in self._arns:
            return self._arns[digest]
        family = family_of(self.registered.family_prefix, registered.name)
        arn = self._find(family, digest)
        if arn is None:
            request = derived_definition(base, container, family, registered, digest)
            answer = self.call(
                "RegisterTaskDefinition", partial(self.ecs.register_task_definition, **request)
            )
            arn = str(answer["taskDefinition"]["taskDefinitionArn"])
            self.registrations += 1
            log.info(
                "registered task definition %s for job type %s",
                arn,
                registered.name,
                extra={"action": "task_definition_registered", "job_type": registered.name},
            )
        self._arns[digest] = arn
        return arn

    def _base_definition(self) -> dict[str, Any]:
        """The base, described once: its ARN names a revision, which never changes."""
        if self._base is None:
            base = self.registered.target.task_definition
            answer = self.call(
                "DescribeTaskDefinition",
                partial(self.ecs.describe_task_definition, taskDefinition=base),
            )
            self._base = dict(answer["taskDefinition"])
        return self._base

    def _find(self, family: str, digest: str) -> str | None:
        """A revision of ``family`` tagged with ``digest``, among its newest few."""
        paginator = self.ecs.get_paginator("list_task_definitions")

        def listing() -> list[str]:
            pages = paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
            return [arn for page in pages for arn in page.get("taskDefinitionArns", [])]

        arns = sorted(self.call("ListTaskDefinitions", listing), key=_revision, reverse=True)
        for arn in arns[:LOOKUP_LIMIT]:
            answer = self.call(
                "DescribeTaskDefinition",
                partial(self.ecs.describe_task_definition, taskDefinition=arn, include=["TAGS"]),
            )
            if tags_of(answer).get(TAG_CONTENT_HASH) == digest:
                return str(arn)
        return None
