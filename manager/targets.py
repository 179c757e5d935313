"""Where each job type's workers run: the targets of the manager's settings document.

Plain values: the schema that reads them (``config_schema``) and the settings that
hold them (``settings``) both import this module, and it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from manager.policy import ScalingPolicy


@dataclass(frozen=True)
class EcsTarget:
    """Where and how RunTask starts a worker task for one job type."""

    task_definition: str
    cluster: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    launch_type: str | None = "FARGATE"
    capacity_provider_strategy: tuple[dict[str, Any], ...] = ()
    container_name: str = "worker"
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredEcs:
    """Where the registered types with a run spec run on ECS.

    ``target.task_definition`` is the base worker task definition (roles, logging,
    network mode) that each type's own task definition is copied from; each type's
    family is ``family_prefix`` + its name in lower case with ``-`` for ``_``.
    """

    target: EcsTarget
    family_prefix: str = "shoal-type-"


@dataclass(frozen=True)
class LocalTarget:
    """A local worker process; ``command`` None means ``shoal worker --job-types T``."""

    command: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobTypeConfig:
    name: str
    policy: ScalingPolicy
    ecs: EcsTarget | None = None
    local: LocalTarget | None = None


@dataclass(frozen=True)
class ManagerDocument:
    """The settings document: a target per named job type, and where registered types run."""

    job_types: dict[str, JobTypeConfig]
    registered_ecs: RegisteredEcs | None = None
