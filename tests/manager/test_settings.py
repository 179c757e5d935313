"""The settings document: parsed into frozen settings, or one line naming the bad field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from manager.settings import ManagerSettings
from shared.errors import SettingsError

ECS = {
    "taskDefinition": "shoal-worker:3",
    "cluster": "shoal",
    "subnets": ["subnet-1"],
    "securityGroups": ["sg-1"],
    "assignPublicIp": True,
    "containerName": "worker",
    "environment": {"LOG_LEVEL": "debug"},
}
BASE = {"SHOAL_API_URL": "http://api:5000/", "SHOAL_API_KEY": "k"}


def settings(doc: object, **env: str) -> ManagerSettings:
    return ManagerSettings.from_env({**BASE, "SHOAL_MANAGER_CONFIG_JSON": json.dumps(doc), **env})


def test_full_ecs_document() -> None:
    policy = {"min": 1, "max": 8, "cooldownSeconds": 10, "sensitivity": 3, "factor": 5}
    loaded = settings(
        {"jobTypes": {"TEST": {"policy": policy, "ecs": ECS}}},
        SHOAL_COMPUTE_BACKEND="ecs",
        AWS_REGION="ap-southeast-2",
        SHOAL_MANAGER_TICK_SECONDS="2",
    )
    job = loaded.job_types["TEST"]
    assert (job.policy.min, job.policy.max, job.policy.cooldown_seconds) == (1, 8, 10)
    assert job.ecs is not None and job.ecs.assign_public_ip and job.ecs.launch_type == "FARGATE"
    assert job.ecs.environment == {"LOG_LEVEL": "debug"}
    assert loaded.api_url == "http://api:5000" and loaded.aws_region == "ap-southeast-2"
    assert loaded.tick_seconds == 2 and loaded.lease_seconds == 15 and loaded.metrics_port is None


def test_capacity_provider_strategy_replaces_launch_type() -> None:
    ecs = {**ECS, "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    loaded = settings({"jobTypes": {"TEST": {"ecs": ecs}}}, SHOAL_COMPUTE_BACKEND="ecs")
    target = loaded.job_types["TEST"].ecs
    assert target is not None and target.launch_type is None
    assert target.capacity_provider_strategy == ({"capacityProvider": "FARGATE_SPOT", "weight": 1},)


def test_config_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    path.write_text(json.dumps({"jobTypes": {"TEST": {"local": {"command": ["sleep", "1"]}}}}))
    loaded = ManagerSettings.from_env({**BASE, "SHOAL_MANAGER_CONFIG": str(path)})
    assert loaded.backend == "local"
    local = loaded.job_types["TEST"].local
    assert local is not None and local.command == ("sleep", "1")


def test_local_backend_without_a_document_scales_every_registered_type() -> None:
    loaded = ManagerSettings.from_env(dict(BASE))
    assert {"TEST", "POLYGON_STATS"} <= set(loaded.job_types)


@pytest.mark.parametrize(
    ("doc", "env", "named"),
    [
        ({"jobTypes": {"TEST": {"policy": {"min": 3, "max": 2}}}}, {}, "jobTypes.TEST.policy.min"),
        ({"jobTypes": {"TEST": {"policy": {"factor": 0}}}}, {}, "jobTypes.TEST.policy.factor"),
        ({"jobTypes": {"TEST": {"policy": {"maxx": 2}}}}, {}, "jobTypes.TEST.policy.maxx"),
        ({"jobTypes": {"TEST": {}}}, {"SHOAL_COMPUTE_BACKEND": "ecs"}, "jobTypes.TEST.ecs"),
        (
            {"jobTypes": {"TEST": {"ecs": {"cluster": "c"}}}},
            {"SHOAL_COMPUTE_BACKEND": "ecs"},
            "jobTypes.TEST.ecs.taskDefinition",
        ),
        ({"jobTypes": {}}, {}, "jobTypes"),
        ({"jobTypes": {"TEST": {}}}, {"SHOAL_COMPUTE_BACKEND": "k8s"}, "SHOAL_COMPUTE_BACKEND"),
        ({"jobTypes": {"TEST": {}}}, {"SHOAL_MANAGER_TICK_SECONDS": "x"}, "TICK_SECONDS"),
    ],
)
def test_a_bad_document_names_the_field(doc: object, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(doc, **env)
    assert named in caught.value.message
    assert "\n" not in caught.value.message


def test_ecs_without_a_document_is_an_error() -> None:
    with pytest.raises(SettingsError, match="SHOAL_MANAGER_CONFIG"):
        ManagerSettings.from_env({**BASE, "SHOAL_COMPUTE_BACKEND": "ecs"})


def test_not_json() -> None:
    with pytest.raises(SettingsError, match="not valid JSON"):
        ManagerSettings.from_env({**BASE, "SHOAL_MANAGER_CONFIG_JSON": "{"})


def test_the_command_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {
        **BASE,
        "PATH": "/usr/bin:/bin",
        "SHOAL_MANAGER_CONFIG_JSON": '{"jobTypes": {"TEST": {"policy": {"max": -1}}}}',
    }
    done = subprocess.run(
        [sys.executable, "-c", "from shoal_cli.main import main; main()", "manager"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "jobTypes.TEST.policy.max" in lines[0]


REGISTERED = {k: v for k, v in ECS.items() if k != "taskDefinition"}


def test_registered_types_section_with_its_base_task_definition() -> None:
    registered = {**REGISTERED, "baseTaskDefinition": "shoal-worker-base:2"}
    loaded = settings({"registered": {"ecs": registered}}, SHOAL_COMPUTE_BACKEND="ecs")
    assert loaded.job_types == {}
    found = loaded.registered_ecs
    assert found is not None and found.family_prefix == "shoal-type-"
    assert found.target.task_definition == "shoal-worker-base:2"
    assert found.target.cluster == "shoal" and found.target.subnets == ("subnet-1",)


def test_the_base_task_definition_from_the_environment_wins() -> None:
    registered = {**REGISTERED, "baseTaskDefinition": "old:1", "familyPrefix": "lab-type-"}
    loaded = settings(
        {"jobTypes": {"TEST": {"ecs": ECS}}, "registered": {"ecs": registered}},
        SHOAL_COMPUTE_BACKEND="ecs",
        SHOAL_ECS_BASE_TASK_DEFINITION="arn:aws:ecs:us-east-1:1:task-definition/base:7",
    )
    found = loaded.registered_ecs
    assert found is not None and found.family_prefix == "lab-type-"
    assert found.target.task_definition == "arn:aws:ecs:us-east-1:1:task-definition/base:7"
    assert settings({"jobTypes": {"TEST": {"ecs": ECS}}}).registered_ecs is None


@pytest.mark.parametrize(
    ("doc", "env", "named"),
    [
        ({"registered": {"ecs": REGISTERED}}, {}, "registered.ecs.baseTaskDefinition"),
        (
            {"jobTypes": {"TEST": {"ecs": ECS}}},
            {"SHOAL_ECS_BASE_TASK_DEFINITION": "base:1"},
            "SHOAL_ECS_BASE_TASK_DEFINITION",
        ),
        (
            {"registered": {"ecs": {**REGISTERED, "familyPrefix": "a b"}}},
            {"SHOAL_ECS_BASE_TASK_DEFINITION": "base:1"},
            "registered.ecs.familyPrefix",
        ),
        (
            {"registered": {"ecs": {**REGISTERED, "subnets": []}}},
            {"SHOAL_ECS_BASE_TASK_DEFINITION": "base:1"},
            "registered.ecs.subnets",
        ),
        ({"registered": {}}, {}, "jobTypes"),
    ],
)
def test_a_bad_registered_section_names_the_field(
    doc: object, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(doc, SHOAL_COMPUTE_BACKEND="ecs", **env)
    assert named in caught.value.message
    assert "\n" not in caught.value.message
