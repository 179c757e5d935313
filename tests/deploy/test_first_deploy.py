"""What a first real deploy needs from the template: ordering, TLS, no public metrics,
connection reuse the load balancer can live with, and no password in an override."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.synth import Synthesized, config_document, render

pytest.importorskip("aws_cdk")

from shoal_deploy.config import parse_config
from shoal_deploy.stack import build_app

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["http_app", "https_app"]


def _one(app: Synthesized, kind: str, contains: str) -> tuple[str, dict[str, Any]]:
    [found] = [(name, r) for name, r in app.resources(kind).items() if contains in name]
    return found


def _container(app: Synthesized, family_suffix: str) -> dict[str, Any]:
    [definition] = [
        d
        for d in app.resources("AWS::ECS::TaskDefinition").values()
        if d["Properties"]["Family"].endswith(family_suffix)
    ]
    [container] = definition["Properties"]["ContainerDefinitions"]
    return container


def _secret_sources(container: dict[str, Any]) -> dict[str, str]:
    return {item["Name"]: render(item["ValueFrom"]) for item in container["Secrets"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_webapi_service_waits_for_the_database_and_its_secret_attachment(
    variant: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    instance, _ = _one(app, "AWS::RDS::DBInstance", "Database")
    attachment, _ = _one(app, "AWS::SecretsManager::SecretTargetAttachment", "Database")
    _, service = _one(app, "AWS::ECS::Service", "WebApi")
    assert {instance, attachment} <= set(service["DependsOn"])
    # The connection fields are read through the attachment, never the bare secret.
    for family in ("-webapi", "-first-admin"):
        sources = _secret_sources(_container(app, family))
        db_fields = {name: source for name, source in sources.items() if "_DB_" in name}
        assert len(db_fields) == 5
        assert all(source.startswith(f"<{attachment}>:") for source in db_fields.values())


def _listeners(app: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        name: listener["Properties"]
        for name, listener in app.resources("AWS::ElasticLoadBalancingV2::Listener").items()
    }


def _forwards(actions: list[dict[str, Any]]) -> bool:
    return any(action["Type"] == "forward" for action in actions)


def _rules_of(app: Synthesized, listener: str) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in app.resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if rule["Properties"]["ListenerArn"] == {"Ref": listener}
    ]


def test_port_80_forwards_to_the_api_only_with_allow_plain_http(
    http_app: Synthesized, https_app: Synthesized
) -> None:
    [plain] = _listeners(http_app).values()  # allowPlainHttp: true
    assert plain["Port"] == 80 and _forwards(plain["DefaultActions"])
    on_80 = {name: p for name, p in _listeners(https_app).items() if p["Port"] == 80}
    assert len(on_80) == 1
    for name, listener in on_80.items():
        assert not _forwards(listener["DefaultActions"])
        assert not any(_forwards(rule["Actions"]) for rule in _rules_of(https_app, name))


def test_the_stack_itself_refuses_plain_http_without_the_flag() -> None:
    config = dataclasses.replace(parse_config(config_document()), allow_plain_http=False)
    with pytest.raises(Exception, match="allowPlainHttp"):
        build_app(config)


@pytest.mark.parametrize("variant", VARIANTS)
def test_metrics_are_not_served_through_the_load_balancer(
    variant: str, request: pytest.FixtureRequest
) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    serving = [n for n, p in _listeners(app).items() if _forwards(p["DefaultActions"])]
    assert len(serving) == 1
    [rule] = _rules_of(app, serving[0])
    [condition] = rule["Conditions"]
    assert condition["Field"] == "path-pattern"
    assert "/metrics" in condition["PathPatternConfig"]["Values"]
    [action] = rule["Actions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "404"


def _gunicorn_setting(name: str) -> Any:
    """A literal from webapi/gunicorn_conf.py, read without importing it (it has effects)."""
    tree = ast.parse((ROOT / "webapi" / "gunicorn_conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"gunicorn_conf.py sets no {name}")


def test_gunicorn_keepalive_outlasts_the_load_balancer_idle_timeout(
    http_app: Synthesized,
) -> None:
    _, balancer = _one(http_app, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Alb")
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    idle = int(attributes["idle_timeout.timeout_seconds"])
    assert idle > 30  # the claim long poll
    assert _gunicorn_setting("keepalive") > idle


def test_first_admin_password_comes_from_its_secret(http_app: Synthesized) -> None:
    admin = _container(http_app, "-first-admin")
    sources = _secret_sources(admin)
    assert "SHOAL_ADMIN_PASSWORD" in sources
    assert "FirstAdminPassword" in json.dumps(
        [s["ValueFrom"] for s in admin["Secrets"] if s["Name"] == "SHOAL_ADMIN_PASSWORD"]
    )
    assert not admin.get("Environment")
    [command] = admin["Command"]
    assert '--password "$SHOAL_ADMIN_PASSWORD"' in command
    assert "FirstAdminPassword" in json.dumps(http_app.secrets)


def test_deploy_readme_passes_no_secret_in_a_task_override() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    overrides = re.findall(r'"environment":\s*\[(.*?)\]', readme, flags=re.DOTALL)
    assert overrides, "the README's first-admin run-task example is gone"
    for override in overrides:
        for name in re.findall(r'"name":\s*"([^"]+)"', override):
            assert not re.search("PASSWORD|KEY|SECRET|TOKEN", name), name
    assert "--task-definition shoal-first-admin" in readme
