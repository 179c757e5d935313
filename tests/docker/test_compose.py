"""docker-compose.yml without Docker: the compose spec's JSON schema, the wiring between
services, and each service's environment parsed by the component's own settings.

``compose_spec.json`` is the Compose Specification schema as shipped in docker-compose
1.29.2 (Copyright Docker, Inc., Apache License 2.0: ``compose_spec.LICENSE``), unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from manager.settings import ManagerSettings
from webapi.auth.keys import generate_jwt_key_pair
from webapi.settings import WebSettings
from worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}; "$$" is a literal "$".
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, enough for this file."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        found = env.get(name)
        if op in (":-", "-"):
            return found if found or (op == "-" and found is not None) else arg
        if found is None:
            raise KeyError(f"{name} is not set and has no default")
        return found

    return VARIABLE.sub(substitute, value).replace("$$", "$")


def service_env(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment") or {}
    assert isinstance(raw, dict), "environment is written as a mapping"
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def test_the_file_is_valid_under_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads((HERE / "compose_spec.json").read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # and the schema does catch mistakes
    broken = {
        **compose,
        "services": {"x": {"image": "a", "depends_on": {"y": {"condition": "ok"}}}},
    }
    assert list(validator.iter_errors(broken))


def test_services_and_how_they_wait_for_each_other(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "minio",
        "createbucket",
        "migrate",
        "webapi",
        "manager",
        "worker",
    }
    conditions = {
        name: {target: rule["condition"] for target, rule in (svc.get("depends_on") or {}).items()}
        for name, svc in services.items()
    }
    assert conditions == {
        "postgres": {},
        "minio": {},
        "createbucket": {"minio": "service_healthy"},
        "migrate": {"postgres": "service_healthy"},
        "webapi": {
            "migrate": "service_completed_successfully",
            "createbucket": "service_completed_successfully",
        },
        "manager": {"webapi": "service_healthy"},
        "worker": {"webapi": "service_healthy"},
    }
    # every service waited on for health has a healthcheck
    for name in ("postgres", "minio", "webapi"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["createbucket"]["restart"] == services["migrate"]["restart"] == "no"
    assert services["worker"]["profiles"] == ["worker"]  # optional, not started by default


def test_images_are_pinned_and_built_from_the_docker_folder(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = interpolate(service["image"], {})
        assert ":" in image and not image.endswith(":latest"), (name, image)
        build = service.get("build")
        if build is not None:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")
    manager = compose["services"]["manager"]
    assert manager["build"]["dockerfile"] == "docker/manager.Dockerfile"
    assert set(manager["build"]["args"]["EXTRAS"].split(",")) == {"manager", "worker"}
    assert manager["init"] is True  # reaps the worker processes it starts


def test_every_variable_has_a_default_but_the_api_keys(compose: dict[str, Any]) -> None:
    """`docker compose` works with no .env at all; only the keys are to be filled in."""
    text = (ROOT / "docker-compose.yml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in VARIABLE.finditer(body):
        assert match["op"] == ":-", match[0]
    empty = {m["name"] for m in VARIABLE.finditer(body) if m["arg"] == ""}
    assert empty == {"SHOAL_MANAGER_API_KEY", "SHOAL_WORKER_API_KEY"}


def test_the_webapi_environment_passes_the_webapis_settings(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    service = compose["services"]["webapi"]
    env = service_env(service, {})
    assert env["SHOAL_JWT_PRIVATE_KEY_FILE"] == "/run/secrets/jwt_private_key"
    assert service["secrets"] == ["jwt_private_key"]
    secret = compose["secrets"]["jwt_private_key"]["file"]
    assert (ROOT / secret).parent.joinpath(".gitignore").is_file()  # the key is never committed
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(generate_jwt_key_pair()[0])
    settings = WebSettings.from_env({**env, "SHOAL_JWT_PRIVATE_KEY_FILE": str(key_file)})
    assert settings.database_url.startswith("postgresql") and "@postgres:5432/shoal" in (
        settings.database_url
    )
    storage = settings.jobs.storage
    assert (storage.scheme.value, storage.s3_bucket, storage.s3_endpoint_url) == (
        "S3",
        "shoal-results",
        "http://minio:9000",
    )
    assert settings.compute.backend == "local"
    assert env["SHOAL_WEBAPI_BIND"].endswith(":8000") and service["ports"] == [
        "127.0.0.1:8000:8000"
    ]
    bucket_env = service_env(compose["services"]["createbucket"], {})
    assert bucket_env["SHOAL_S3_BUCKET"] == storage.s3_bucket
    migrate_env = service_env(compose["services"]["migrate"], {})
    assert migrate_env["DATABASE_URL"] == env["DATABASE_URL"]


def test_published_ports_listen_on_this_machine_only(compose: dict[str, Any]) -> None:
    """MinIO's default credentials and the plain-HTTP API never face the network."""
    published = {
        name: [interpolate(str(port), {}) for port in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published["webapi"] and published["minio"]
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), (name, port)


def test_minio_credentials_match_on_both_sides(compose: dict[str, Any]) -> None:
    services = compose["services"]
    minio = service_env(services["minio"], {})
    for name in ("webapi", "manager", "worker"):
        env = service_env(services[name], {})
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name
        assert env["SHOAL_S3_ENDPOINT_URL"] == "http://minio:9000", name


def test_the_manager_and_worker_environments_pass_their_settings(
    compose: dict[str, Any],
) -> None:
    keys = {"SHOAL_MANAGER_API_KEY": "manager-key", "SHOAL_WORKER_API_KEY": "worker-key"}
    manager = ManagerSettings.from_env(service_env(compose["services"]["manager"], keys))
    assert (manager.api_url, manager.api_key, manager.backend) == (
        "http://webapi:8000",
        "manager-key",
        "local",
    )
    assert manager.worker_api_key == "worker-key"  # what its workers get, not its own key
    assert {"TEST", "POLYGON_STATS"} <= set(manager.job_types)
    worker = WorkerSettings.from_env(service_env(compose["services"]["worker"], keys))
    assert worker.client.api_url == "http://webapi:8000"
    assert set(worker.job_types) == {"TEST", "POLYGON_STATS"}
