"""Admin compute routes on the ECS backend: a cluster and a service in moto, driven
through the HTTP routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws

from tests.webapi.conftest import IssuedKey, MakeUser
from webapi.app import close_app, create_app
from webapi.settings import WebSettings

REGION = "us-east-1"
CLUSTER = "shoal"
SERVICE = "shoal-workers"
Headers = dict[str, str]


@pytest.fixture
def ecs() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ecs", region_name=REGION)
        client.create_cluster(clusterName=CLUSTER)
        td = client.register_task_definition(
            family="shoal-worker",
            networkMode="bridge",
            containerDefinitions=[{"name": "worker", "image": "w", "memory": 512, "cpu": 256}],
        )["taskDefinition"]["taskDefinitionArn"]
        client.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=td,
            desiredCount=1,
            launchType="FARGATE",
        )
        yield client


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {
        **web_env,
        "SHOAL_COMPUTE_BACKEND": "ecs",
        "SHOAL_ECS_CLUSTER": CLUSTER,
        "SHOAL_ECS_SERVICE": SERVICE,
        "AWS_REGION": REGION,
    }


@pytest.fixture
def admin_headers(admin: tuple[int, str], auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(admin[1])


def service(ecs: Any) -> dict[str, Any]:
    [found] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    return dict(found)


def test_status_has_exactly_the_contract_shape(
    ecs: Any, client: FlaskClient, admin_headers: Headers
) -> None:
    answer = client.get("/api/admin/status", headers=admin_headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {
        "runningCount",
        "pendingCount",
        "desiredCount",
        "deployments",
        "events",
        "serviceStatus",
    }
    assert body["desiredCount"] == 1 and body["serviceStatus"] == "ACTIVE"
    assert len(body["events"]) <= 5
    for deployment in body["deployments"]:
        assert set(deployment) == {
            "status",
            "taskDefinition",
            "desiredCount",
            "pendingCount",
            "runningCount",
            "failedTasks",
            "rolloutState",
            "rolloutStateReason",
        }
    assert body["deployments"][0]["taskDefinition"].endswith("shoal-worker:1")


def test_scale_updates_the_service(ecs: Any, client: FlaskClient, admin_headers: Headers) -> None:
    answer = client.post("/api/admin/scale", json={"desiredCount": 4}, headers=admin_headers)
    assert answer.status_code == 200
    assert service(ecs)["desiredCount"] == 4
    assert client.get("/api/admin/status", headers=admin_headers).get_json()["desiredCount"] == 4


def test_scale_11_is_400_and_leaves_the_service_alone(
    ecs: Any, client: FlaskClient, admin_headers: Headers
) -> None:
    answer = client.post("/api/admin/scale", json={"desiredCount": 11}, headers=admin_headers)
    assert answer.status_code == 400
    assert "desiredCount" in answer.get_json()["errors"]
    assert service(ecs)["desiredCount"] == 1


def test_redeploy_starts_a_new_deployment(
    ecs: Any, client: FlaskClient, admin_headers: Headers
) -> None:
    [before] = service(ecs)["deployments"]
    answer = client.post("/api/admin/redeploy", headers=admin_headers)
    assert answer.status_code == 200
    # moto renews the primary deployment in place on forceNewDeployment.
    [after] = service(ecs)["deployments"]
    assert after["id"] != before["id"]


def test_non_admins_get_403(
    ecs: Any,
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Callable[[str], Headers],
    api_key: Callable[..., IssuedKey],
) -> None:
    for headers in (auth_headers(make_user(roles=("ANALYST",))[1]), api_key(("WORKER",)).headers):
        assert (
            client.post("/api/admin/scale", json={"desiredCount": 3}, headers=headers).status_code
            == 403
        )
        assert client.post("/api/admin/redeploy", headers=headers).status_code == 403
        assert client.get("/api/admin/status", headers=headers).status_code == 403
    assert service(ecs)["desiredCount"] == 1


def test_a_missing_service_is_503_not_500(
    web_settings: WebSettings, admin_headers: Headers
) -> None:
    with mock_aws():
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName=CLUSTER)
        app: Flask = create_app(web_settings)
        try:
            answer = app.test_client().get("/api/admin/status", headers=admin_headers)
        finally:
            close_app(app)
    assert answer.status_code == 503 and SERVICE in answer.get_json()["message"]
