"""Pure helpers for the ECS backend: RunTask arguments and reading task descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from manager.backends.base import Worker, WorkerStatus
from manager.targets import EcsTarget
from shared.enums import WorkerExit

STARTED_BY = "shoal-manager"
TAG_JOB_TYPE = "shoal:job-type"
TAG_MANAGED_BY = "shoal:managed-by"
TAG_GENERATION = "shoal:generation"
RUN_TASK_MAX = 10  # ECS starts at most 10 tasks per RunTask call
DESCRIBE_MAX = 100  # and describes at most 100 per DescribeTasks call

_STARTING = {"PROVISIONING", "PENDING", "ACTIVATING"}
_STOPPING = {"DEACTIVATING", "STOPPING", "DEPROVISIONING"}
_GONE = {"STOPPED", "DELETED"}

# Reasons ECS gives for tasks that never got to run the worker.
START_FAILURE_MARKERS = (
    "CannotPullContainerError",
    "CannotStartContainerError",
    "CannotCreateVolumeError",
    "ResourceInitializationError",
    "ResourceNotFoundException",
    "Capacity is unavailable",
    "RESOURCE:",
    "InternalError",
)


def run_task_kwargs(
    target: EcsTarget, job_type: str, count: int, *, api_url: str, holder: str, generation: int
) -> dict[str, Any]:
    """The RunTask request for ``count`` (≤ 10) workers of one job type."""
    environment = {**target.environment, "SHOAL_JOB_TYPES": job_type, "SHOAL_API_URL": api_url}
    kwargs: dict[str, Any] = {
        "cluster": target.cluster,
        "taskDefinition": target.task_definition,
        "count": count,
        "startedBy": STARTED_BY,
        "enableECSManagedTags": True,
        "tags": [
            {"key": TAG_JOB_TYPE, "value": job_type},
            {"key": TAG_MANAGED_BY, "value": holder[:256]},
            {"key": TAG_GENERATION, "value": str(generation)},
        ],
        "overrides": {
            "containerOverrides": [
                {
                    "name": target.container_name,
                    "environment": [{"name": k, "value": v} for k, v in environment.items()],
                }
            ]
        },
    }
    if target.capacity_provider_strategy:
        kwargs["capacityProviderStrategy"] = [dict(s) for s in target.capacity_provider_strategy]
    else:
        kwargs["launchType"] = target.launch_type or "FARGATE"
    if target.subnets:
        kwargs["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": list(target.subnets),
                "securityGroups": list(target.security_groups),
                "assignPublicIp": "ENABLED" if target.assign_public_ip else "DISABLED",
            }
        }
    return kwargs


def tags_of(task: Mapping[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag.get("value", "") for tag in task.get("tags", []) if "key" in tag}


def status_of(task: Mapping[str, Any]) -> WorkerStatus | None:
    """The worker status of an ECS task; None once it is gone."""
    last = task.get("lastStatus", "")
    if last in _GONE:
        return None
    if last in _STOPPING or task.get("desiredStatus") == "STOPPED":
        return WorkerStatus.STOPPING
    if last in _STARTING:
        return WorkerStatus.STARTING
    return WorkerStatus.RUNNING


def to_worker(task: Mapping[str, Any]) -> Worker | None:
    """A worker from a described task, or None if it is gone or not one of ours."""
    tags = tags_of(task)
    status = status_of(task)
    if TAG_JOB_TYPE not in tags or status is None:
        return None
    started = task.get("startedAt") or task.get("createdAt") or datetime.now(UTC)
    if isinstance(started, datetime) and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    generation = tags.get(TAG_GENERATION, "0")
    return Worker(
        task_arn=task["taskArn"],
        job_types=tuple(tags[TAG_JOB_TYPE].split(",")),
        status=status,
        started_at=started,
        generation=int(generation) if generation.isdigit() else 0,
    )


def start_failure(task: Mapping[str, Any]) -> str | None:
    """Why a stopped task never came up, or None if it ran (or never tried to run).

    It never came up when ECS says so (``TaskFailedToStart``), when it stopped before
    it reached RUNNING with a start-up error or a non-zero exit, or when the worker
    exited with one of its start-up failure codes (2: settings, 3: refused).
    """
    reasons = [task.get("stoppedReason") or ""]
    reasons += [c.get("reason") or "" for c in task.get("containers", [])]
    if task.get("stopCode") == "TaskFailedToStart":
        return next((r for r in reasons if r), "TaskFailedToStart")
    for name, code in _exit_codes(task):
        if code in _NEVER_STARTED:
            return f"container {name} exited with code {code}: the worker never came up"
    if task.get("startedAt") is not None:
        return None
    for reason in reasons:
        if any(marker in reason for marker in START_FAILURE_MARKERS):
            return reason
    for name, code in _exit_codes(task):
        if code != 0:
            return f"container {name} exited with code {code}"
    return None


class Loss(NamedTuple):
    reason: str
    platform: bool  # the platform stopped it, not its job


# Stop codes of tasks the platform stopped: the work they held was not their fault.
PLATFORM_STOP_CODES = {
    "SpotInterruption": "Spot interruption",
    "TerminationNotice": "termination notice",
    "ServiceSchedulerInitiated": "stopped by the service scheduler",
    "UserInitiated": "stopped by StopTask",
}
# Reasons ECS gives for a task whose host or agent failed under it.
HOST_FAILURE_MARKERS = (
    "Host EC2",
    "host was",
    "ECS agent",
    "underlying infrastructure",
    "maintenance",
)
OUT_OF_MEMORY_MARKERS = ("OutOfMemoryError", "OutOfMemory")


def loss(task: Mapping[str, Any]) -> Loss | None:
    """Why a task that ran stopped abnormally, and whether the platform did it; None
    for a normal end.

    An out-of-memory kill is its job's doing; a Spot interruption, a scale-in, a
    StopTask from outside, or a failed host or agent is the platform's; any other
    non-zero exit (a crash) is the job's.
    """
    stopped = task.get("stoppedReason") or ""
    reasons = [stopped, *(c.get("reason") or "" for c in task.get("containers", []))]
    for reason in reasons:
        if any(marker in reason for marker in OUT_OF_MEMORY_MARKERS):
            return Loss(f"out of memory ({reason})", platform=False)
    codes = _exit_codes(task)
    failed = next(((name, code) for name, code in codes if code != 0), None)
    stop_code = task.get("stopCode", "")
    if stop_code in PLATFORM_STOP_CODES and (stop_code == "SpotInterruption" or failed):
        return Loss(f"{PLATFORM_STOP_CODES[stop_code]}: {stopped or 'no reason given'}", True)
    if any(marker in stopped for marker in HOST_FAILURE_MARKERS):
        return Loss(f"host or agent failure: {stopped}", platform=True)
    if failed is not None:
        return Loss(f"container {failed[0]} exited with code {failed[1]}", platform=False)
    return None


def _exit_codes(task: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [
        (c.get("name", "?"), c["exitCode"])
        for c in task.get("containers", [])
        if isinstance(c.get("exitCode"), int)
    ]


# The worker's own start-up failure codes (shared.enums.WorkerExit.never_started).
_NEVER_STARTED = frozenset(int(code) for code in WorkerExit if code.never_started)
