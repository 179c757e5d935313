"""Identity from a real HTTP server serving an ECS task metadata (v4) document."""

from __future__ import annotations

import os
import socket

import pytest

from shared.errors import SettingsError
from tests.shared.client.scripted_server import Reply, ScriptedServer
from worker.identity import discover_identity

TASK_ARN = "arn:aws:ecs:ap-southeast-2:123456789012:task/shoal-workers/0123456789abcdef"
# Trimmed from the document Fargate serves at ${ECS_CONTAINER_METADATA_URI_V4}/task.
METADATA = {
    "Cluster": "arn:aws:ecs:ap-southeast-2:123456789012:cluster/shoal-workers",
    "TaskARN": TASK_ARN,
    "Family": "shoal-worker-test",
    "Revision": "3",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "AvailabilityZone": "ap-southeast-2a",
    "LaunchType": "FARGATE",
    "Containers": [{"Name": "worker", "DockerId": "cafe", "KnownStatus": "RUNNING"}],
}


def test_reads_the_task_metadata(server: ScriptedServer) -> None:
    server.on("GET", "/v4/abc/task", Reply(200, METADATA))
    identity = discover_identity({"ECS_CONTAINER_METADATA_URI_V4": f"{server.url}/v4/abc"})
    assert identity.task_arn == TASK_ARN
    assert identity.cluster_arn == METADATA["Cluster"]


def test_a_cluster_name_becomes_an_arn(server: ScriptedServer) -> None:
    server.on("GET", "/v4/abc/task", Reply(200, {**METADATA, "Cluster": "shoal-workers"}))
    identity = discover_identity({"ECS_CONTAINER_METADATA_URI_V4": f"{server.url}/v4/abc/"})
    assert identity.cluster_arn == "arn:aws:ecs:ap-southeast-2:123456789012:cluster/shoal-workers"


def test_local_fallback() -> None:
    identity = discover_identity({})
    assert identity.task_arn == f"local:{socket.gethostname()}:{os.getpid()}"
    assert identity.cluster_arn == "local"


def test_a_local_worker_named_by_its_manager() -> None:
    identity = discover_identity({"SHOAL_TASK_ARN": "local:host:4242"})
    assert (identity.task_arn, identity.cluster_arn) == ("local:host:4242", "local")


def test_a_broken_endpoint_fails_start_up(server: ScriptedServer) -> None:
    server.on("GET", "/v4/abc/task", Reply(200, {"Family": "x"}))
    with pytest.raises(SettingsError, match="ECS_CONTAINER_METADATA_URI_V4"):
        discover_identity({"ECS_CONTAINER_METADATA_URI_V4": f"{server.url}/v4/abc"})
    server.on("GET", "/v4/abc/task", Reply(500, "oops"))
    with pytest.raises(SettingsError, match="ECS_CONTAINER_METADATA_URI_V4"):
        discover_identity({"ECS_CONTAINER_METADATA_URI_V4": f"{server.url}/v4/abc"})
