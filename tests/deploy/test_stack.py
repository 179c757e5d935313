"""What the synthesized platform stack promises: private data, the right services, TLS."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match, Template

from manager.settings import parse_document
from tests.deploy.synth import (
    CERTIFICATE_ARN,
    Synthesized,
    containers,
    environment,
    render,
    secret_names,
)


def _template(app: Synthesized) -> Template:
    return Template.from_json(app.platform)


def _container(app: Synthesized, name: str) -> dict[str, Any]:
    [container] = [c for c in containers(app) if c["Name"] == name]
    return container


def _worker_containers(app: Synthesized) -> dict[str, dict[str, Any]]:
    """Worker containers by the job type their command names."""
    found = {}
    for container in containers(app):
        command = container.get("Command", [])
        if command[:3] == ["shoal", "worker", "--job-types"]:
            found[command[3]] = container
    return found


def test_synthesis_time_is_reasonable(http_app: Synthesized) -> None:
    # jsii starts node once per process; building and synthesizing both stacks should
    # stay well below a minute even on a slow CI machine.
    assert http_app.seconds < 90


def test_database_is_private_encrypted_and_backed_up(http_app: Synthesized) -> None:
    [database] = http_app.resources("AWS::RDS::DBInstance").values()
    properties = database["Properties"]
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert properties["BackupRetentionPeriod"] == 7
    assert properties["Engine"] == "postgres"
    assert database["DeletionPolicy"] == "Snapshot"
    [subnet_group] = http_app.resources("AWS::RDS::DBSubnetGroup").values()
    assert all("dataSubnet" in ref["Ref"] for ref in subnet_group["Properties"]["SubnetIds"])


def test_results_bucket_is_private_and_tls_only(http_app: Synthesized) -> None:
    template = _template(http_app)
    [bucket] = http_app.resources("AWS::S3::Bucket").values()
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "BucketEncryption" in properties
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "results/"
    assert rule["ExpirationInDays"] == 30
    [cors] = properties["CorsConfiguration"]["CorsRules"]
    assert "GET" in cors["AllowedMethods"]
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_manager_runs_exactly_one_task(http_app: Synthesized) -> None:
    manager = _container(http_app, "manager")
    [service] = [
        s
        for s in http_app.resources("AWS::ECS::Service").values()
        if "Manager" in s["Properties"]["TaskDefinition"]["Ref"]
    ]
    assert service["Properties"]["DesiredCount"] == 1
    assert service["Properties"]["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert manager["Command"] == ["shoal", "manager"]
    env = environment(manager)
    assert env["SHOAL_COMPUTE_BACKEND"] == "ecs"
    assert env["SHOAL_API_URL"].startswith("http://<")
    assert env["AWS_REGION"] == "eu-west-1"
    assert secret_names(manager) == {"SHOAL_API_KEY"}
    [key] = manager["Secrets"]
    assert "ManagerApiKey" in json.dumps(key["ValueFrom"])  # its own key, not the workers'


def _manager_document(app: Synthesized) -> str:
    [item] = [
        item
        for item in _container(app, "manager")["Environment"]
        if item["Name"] == "SHOAL_MANAGER_CONFIG_JSON"
    ]
    return render(item["Value"])


def test_manager_config_describes_every_job_type(http_app: Synthesized) -> None:
    document = json.loads(_manager_document(http_app))
    assert set(document["jobTypes"]) == {"TEST", "POLYGON_STATS"}
    polygon = document["jobTypes"]["POLYGON_STATS"]
    assert polygon["policy"] == {
        "min": 1,
        "max": 8,
        "cooldownSeconds": 120,
        "sensitivity": 2.5,
        "factor": 0.5,
    }
    target = polygon["ecs"]
    assert target["launchType"] == "FARGATE"
    assert target["assignPublicIp"] is True
    assert target["containerName"] == "worker"
    assert target["taskDefinition"].startswith("<WorkersPOLYGONSTATSTaskDef")
    assert len(target["subnets"]) == 2
    [group] = target["securityGroups"]
    assert group.startswith("<NetworkWorkerSg") and group.endswith(".GroupId>")
    assert target["cluster"].startswith("<NetworkCluster") and target["cluster"].endswith(".Arn>")


@pytest.mark.parametrize("variant", ["http_app", "https_app"])
def test_manager_accepts_its_config_document(variant: str, request: pytest.FixtureRequest) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    job_types = parse_document(_manager_document(app), "ecs").job_types
    assert set(job_types) == {"TEST", "POLYGON_STATS"}
    target = job_types["TEST"].ecs
    assert target.container_name == "worker"
    assert target.assign_public_ip is (variant == "http_app")
    registered = parse_document(_manager_document(app), "ecs").registered_ecs
    assert registered is not None and registered.family_prefix == "shoaltest-type-"
    assert registered.target.task_definition.startswith("<WorkersBaseTaskDef")
    assert registered.target.subnets == target.subnets
    assert registered.target.security_groups == target.security_groups


def _task_definition(app: Synthesized, family: str) -> dict[str, Any]:
    [found] = [
        definition["Properties"]
        for definition in app.resources("AWS::ECS::TaskDefinition").values()
        if definition["Properties"]["Family"] == family
    ]
    return found


def test_the_base_task_definition_of_registered_types(http_app: Synthesized) -> None:
    """What the manager copies for each registered type: the worker roles, logging and the
    environment every worker needs, the image's own entry point (no command), no job type."""
    base = _task_definition(http_app, "shoaltest-worker-base")
    test = _task_definition(http_app, "shoaltest-worker-test")
    assert base["TaskRoleArn"] == test["TaskRoleArn"]
    assert base["ExecutionRoleArn"] == test["ExecutionRoleArn"]
    assert (base["Cpu"], base["Memory"], base["NetworkMode"]) == ("256", "512", "awsvpc")
    [container] = base["ContainerDefinitions"]
    assert container["Name"] == "worker" and "Command" not in container
    assert "shoal-worker:1.0" in render(container["Image"])
    expected = environment(test["ContainerDefinitions"][0])
    del expected["SHOAL_JOB_TYPES"]
    assert environment(container) == expected
    assert secret_names(container) == {"SHOAL_API_KEY"}
    assert container["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "ecs"


def test_webapi_allows_the_images_the_workers_may_pull(
    http_app: Synthesized,
) -> None:
    allowed = environment(_container(http_app, "webapi"))["SHOAL_ALLOWED_IMAGES"].split(",")
    registry = "<AWS::AccountId>.dkr.ecr.eu-west-1.amazonaws.com"
    assert allowed == [f"{registry}/lab/models:", f"{registry}/lab/models@", "ghcr.io/lab/"]


def test_one_worker_task_definition_per_job_type(http_app: Synthesized) -> None:
    workers = _worker_containers(http_app)
    assert set(workers) == {"TEST", "POLYGON_STATS"}
    families = {
        definition["Properties"]["Family"]
        for definition in http_app.resources("AWS::ECS::TaskDefinition").values()
        if "worker" in definition["Properties"]["Family"]
    }
    # The base of the registered types' task definitions beside them (its own test below).
    assert families == {
        "shoaltest-worker-test",
        "shoaltest-worker-polygon-stats",
        "shoaltest-worker-base",
    }
    for job_type, container in workers.items():
        env = environment(container)
        assert env["SHOAL_JOB_TYPES"] == job_type
        assert env["SHOAL_STORAGE"] == "s3"
        assert env["SHOAL_S3_PREFIX"] == "results/"
        assert env["SHOAL_S3_BUCKET"].startswith("<ResultsBucket")
        assert env["SHOAL_API_URL"].startswith("http://<IngressAlb")
        assert secret_names(container) == {"SHOAL_API_KEY"}
    assert workers["POLYGON_STATS"]["Image"] == "ghcr.io/example/polygon-worker:2"
    assert "shoal-worker:1.0" in render(workers["TEST"]["Image"])


def test_standing_worker_service_starts_empty(http_app: Synthesized) -> None:
    [service] = [
        s
        for s in http_app.resources("AWS::ECS::Service").values()
        if "WorkersTEST" in s["Properties"]["TaskDefinition"]["Ref"]
    ]
    assert service["Properties"]["DesiredCount"] == 0
    webapi_env = environment(_container(http_app, "webapi"))
    assert webapi_env["SHOAL_ECS_SERVICE"].startswith("<WorkersService")


def test_webapi_migrates_then_serves(http_app: Synthesized) -> None:
    webapi = _container(http_app, "webapi")
    assert webapi["EntryPoint"] == ["sh", "-c"]
    [command] = webapi["Command"]
    assert command.index("shoal db upgrade") < command.index("shoal webapi")
    env = environment(webapi)
    assert env["SHOAL_STORAGE"] == "s3"
    assert env["SHOAL_COMPUTE_BACKEND"] == "ecs"
    assert env["SHOAL_S3_PREFIX"] == "results/"
    assert {"SHOAL_S3_BUCKET", "SHOAL_ECS_CLUSTER", "SHOAL_ECS_SERVICE", "AWS_REGION"} <= set(env)
    assert secret_names(webapi) == {
        "SHOAL_DB_HOST",
        "SHOAL_DB_PORT",
        "SHOAL_DB_USER",
        "SHOAL_DB_PASSWORD",
        "SHOAL_DB_NAME",
        "SHOAL_JWT_PRIVATE_KEY",
        "SHOAL_JWT_PUBLIC_KEY",
    }
    [service] = [
        s
        for s in http_app.resources("AWS::ECS::Service").values()
        if "WebApi" in s["Properties"]["TaskDefinition"]["Ref"]
    ]
    assert service["Properties"]["DesiredCount"] == 2
    [balancer] = service["Properties"]["LoadBalancers"]
    assert balancer["ContainerName"] == "webapi"
    assert webapi["PortMappings"][0]["ContainerPort"] == balancer["ContainerPort"]
    assert env["SHOAL_WEBAPI_BIND"] == f"0.0.0.0:{balancer['ContainerPort']}"
    assert env["SHOAL_TRUSTED_PROXIES"] == "1"


def test_health_check_path(http_app: Synthesized) -> None:
    _template(http_app).has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"HealthCheckPath": "/api/health", "TargetType": "ip"},
    )


def test_every_container_logs_to_a_group_with_retention(http_app: Synthesized) -> None:
    groups = http_app.resources("AWS::Logs::LogGroup")
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())
    used = set()
    for container in containers(http_app):
        options = container["LogConfiguration"]["Options"]
        used.add(options["awslogs-group"]["Ref"])
    assert used == set(groups)
    assert len(used) == 6  # webapi, manager, first admin, two job types, registered types


def _listeners(app: Synthesized) -> list[dict[str, Any]]:
    return [
        listener["Properties"]
        for listener in app.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    ]


def test_http_only_without_certificate(http_app: Synthesized) -> None:
    [listener] = _listeners(http_app)
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["Type"] == "forward"


def test_https_with_redirect_when_certificate_configured(https_app: Synthesized) -> None:
    listeners = {listener["Protocol"]: listener for listener in _listeners(https_app)}
    assert set(listeners) == {"HTTP", "HTTPS"}
    https = listeners["HTTPS"]
    assert https["Port"] == 443
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert https["DefaultActions"][0]["Type"] == "forward"
    [redirect] = listeners["HTTP"]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    api_url = environment(_container(https_app, "manager"))["SHOAL_API_URL"]
    assert api_url == "https://shoal.example.org"


def test_https_keeps_the_session_cookie_off_plain_http(
    http_app: Synthesized, https_app: Synthesized
) -> None:
    # Secure cookies, and with them HSTS on every answer (tests/security/test_headers.py).
    assert environment(_container(https_app, "webapi"))["SHOAL_UI_SECURE_COOKIES"] == "true"
    # A trial over plain HTTP could not log in with secure cookies.
    assert "SHOAL_UI_SECURE_COOKIES" not in environment(_container(http_app, "webapi"))


def test_nat_puts_tasks_in_private_subnets(http_app: Synthesized, https_app: Synthesized) -> None:
    def public_ips(app: Synthesized) -> set[str]:
        return {
            service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]
            for service in app.resources("AWS::ECS::Service").values()
        }

    assert public_ips(http_app) == {"ENABLED"}
    assert public_ips(https_app) == {"DISABLED"}
    assert len(http_app.resources("AWS::EC2::NatGateway")) == 0
    assert len(https_app.resources("AWS::EC2::NatGateway")) == 1


def test_secrets_stack_holds_the_operator_secrets(http_app: Synthesized) -> None:
    secrets = [
        resource
        for resource in http_app.secrets["Resources"].values()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    ]
    assert len(secrets) == 4  # JWT keys, WORKER key, MANAGER key, first admin's password
    template = json.dumps(http_app.secrets)
    assert "ManagerApiKeySecretArn" in template and "WorkerApiKeySecretArn" in template
    assert "SHOAL_JWT_PRIVATE_KEY" in template
    assert "SHOAL_JWT_PUBLIC_KEY" in template
