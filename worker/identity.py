"""Who this worker is: its ECS task and cluster, or a local stand-in."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from shared.errors import SettingsError

log = logging.getLogger(__name__)
METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"
TASK_ARN_VARIABLE = "SHOAL_TASK_ARN"


@dataclass(frozen=True)
class TaskIdentity:
    task_arn: str
    cluster_arn: str


def discover_identity(env: Mapping[str, str], timeout: float = 5.0) -> TaskIdentity:
    """From the ECS task metadata endpoint (v4) when it is set, else ``SHOAL_TASK_ARN`` (a
    local worker the manager started in a container, named as the manager sees it), else
    ``local:<host>:<pid>``.

    On ECS a metadata endpoint that does not answer is a start-up error: a worker
    the manager cannot match to its task would be counted twice.
    """
    base = env.get(METADATA_VARIABLE, "").strip()
    if not base:
        named = env.get(TASK_ARN_VARIABLE, "").strip()
        return TaskIdentity(named or f"local:{socket.gethostname()}:{os.getpid()}", "local")
    try:
        response = httpx.get(f"{base.rstrip('/')}/task", timeout=timeout)
        response.raise_for_status()
        task = response.json()
        task_arn, cluster = str(task["TaskARN"]), str(task["Cluster"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise SettingsError(
            f"{METADATA_VARIABLE} is set but the task metadata could not be read: {error}"
        ) from None
    return TaskIdentity(task_arn, _cluster_arn(cluster, task_arn))


def _cluster_arn(cluster: str, task_arn: str) -> str:
    """The cluster as an ARN; metadata may give just its name (Fargate gives the ARN)."""
    if cluster.startswith("arn:"):
        return cluster
    # arn:aws:ecs:<region>:<account>:task/<cluster>/<id> → ...:cluster/<name>
    head, _, _ = task_arn.partition(":task/")
    if task_arn.startswith("arn:") and head:
        return f"{head}:cluster/{cluster}"
    return cluster
