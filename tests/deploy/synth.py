"""Test configs, one-call synthesis, and readers for synthesized templates."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CERTIFICATE_ARN = (
    "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
)
DOMAIN = "shoal.example.org"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def config_document(**overrides: Any) -> dict[str, Any]:
    """A valid plain-HTTP config with two job types; top-level keys may be overridden."""
    document: dict[str, Any] = {
        "region": "eu-west-1",
        "namePrefix": "shoaltest",
        "allowPlainHttp": True,
        "natGateways": 0,
        "database": {
            "instanceClass": "db.t4g.micro",
            "allocatedStorageGb": 20,
            "multiAz": False,
            "backupRetentionDays": 7,
        },
        "results": {"prefix": "results/", "expireAfterDays": 30},
        "images": {
            "webapi": f"{ECR}/shoal-webapi:1.0",
            "manager": f"{ECR}/shoal-manager:1.0",
            "worker": f"{ECR}/shoal-worker:1.0",
        },
        "webapi": {"cpu": 512, "memory": 1024, "desiredCount": 2},
        "manager": {"cpu": 256, "memory": 512},
        "jobTypes": [
            {"name": "TEST", "cpu": 256, "memory": 512, "min": 0, "max": 4,
             "cooldownSeconds": 60, "sensitivity": 1.0, "factor": 1.0},
            {"name": "POLYGON_STATS", "cpu": 1024, "memory": 2048, "min": 1, "max": 8,
             "cooldownSeconds": 120, "sensitivity": 2.5, "factor": 0.5,
             "image": "ghcr.io/example/polygon-worker:2"},
        ],
        "registeredTypes": {"ecrRepositories": ["lab/models"], "allowedImages": ["ghcr.io/lab/"]},
    }  # fmt: skip
    document.update(copy.deepcopy(overrides))
    return document


def https_document(**overrides: Any) -> dict[str, Any]:
    """``config_document`` with a domain and its certificate instead of plain HTTP."""
    document = config_document(**{"domain": DOMAIN, "certificateArn": CERTIFICATE_ARN, **overrides})
    if "allowPlainHttp" not in overrides:
        del document["allowPlainHttp"]
    return document


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: the platform and secrets templates, and where they were written."""

    platform: dict[str, Any]
    secrets: dict[str, Any]
    outdir: Path
    seconds: float

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.platform["Resources"].items()
            if resource["Type"] == kind
        }


def synthesize(document: dict[str, Any], outdir: Path) -> Synthesized:
    """Build and synthesize the app for ``document`` into ``outdir``."""
    # conftest imports this module, then puts deploy/ on sys.path; aws_cdk is optional.
    from shoal_deploy.config import parse_config  # noqa: PLC0415 - deploy/ not yet on sys.path
    from shoal_deploy.stack import build_app  # noqa: PLC0415 - needs the optional aws_cdk

    started = time.perf_counter()
    built = build_app(parse_config(document), outdir=str(outdir))
    assembly = built.app.synth()
    seconds = time.perf_counter() - started
    templates = {
        stack.stack_name: json.loads(Path(stack.template_full_path).read_text("utf-8"))
        for stack in assembly.stacks
    }
    return Synthesized(
        platform=templates[built.platform.stack_name],
        secrets=templates[built.secrets.stack_name],
        outdir=outdir,
        seconds=seconds,
    )


def render(value: Any) -> str:
    """A template value as a string, each intrinsic function shown as ``<...>``."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    return "<intrinsic>"


def containers(app: Synthesized) -> list[dict[str, Any]]:
    """Every container definition of every task definition in the platform stack."""
    return [
        container
        for task_definition in app.resources("AWS::ECS::TaskDefinition").values()
        for container in task_definition["Properties"]["ContainerDefinitions"]
    ]


def environment(container: dict[str, Any]) -> dict[str, str]:
    return {item["Name"]: render(item["Value"]) for item in container.get("Environment", [])}


def secret_names(container: dict[str, Any]) -> set[str]:
    return {item["Name"] for item in container.get("Secrets", [])}
