"""The manager's settings: environment variables plus one validated JSON document.

The document (``SHOAL_MANAGER_CONFIG`` = a file path, or ``SHOAL_MANAGER_CONFIG_JSON``
= the document itself) maps each job type to a scaling policy and a launch target::

    {"jobTypes": {"TEST": {"policy": {...}, "ecs": {...}, "local": {...}}},
     "registered": {"ecs": {"baseTaskDefinition": ..., "cluster": ..., ...}}}

Without a document the local backend scales every registered job type with the
default policy and the default worker command; the ecs backend needs one.
``registered.ecs`` says where the types registered over the API run on ECS: the
base worker task definition each type's own is copied from (or
``SHOAL_ECS_BASE_TASK_DEFINITION``), the cluster and the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from manager.config_schema import ConfigSchema
from manager.policy import ScalingPolicy
from manager.targets import JobTypeConfig, LocalTarget, ManagerDocument, RegisteredEcs
from shared.errors import SettingsError
from shared.jobtypes import default_registry
from shared.settings import env_choice, env_float, env_int, env_optional, env_str

BACKENDS = ("ecs", "local")


@dataclass(frozen=True)
class ManagerSettings:
    api_url: str
    api_key: str
    backend: str
    job_types: Mapping[str, JobTypeConfig]
    tick_seconds: float = 5.0
    lease_seconds: float = 30.0
    metrics_port: int | None = None
    aws_region: str | None = None
    # The key the local backend hands its workers (WORKER, not the manager's MANAGER key).
    worker_api_key: str | None = None
    # Where registered types with a run spec run on ECS; None: they are not launched there.
    registered_ecs: RegisteredEcs | None = None
    # A running worker the API has not heard from for this long is killed and replaced:
    # below the leases (30 s and more), so a frozen worker is found before its lease ends.
    silent_seconds: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ManagerSettings:
        """Parse and validate; any bad value raises SettingsError naming it."""
        env = os.environ if env is None else env
        backend = env_choice(env, "SHOAL_COMPUTE_BACKEND", "local", BACKENDS)
        tick = env_float(env, "SHOAL_MANAGER_TICK_SECONDS", 5.0, 0.05, 3600.0)
        port = env_int(env, "SHOAL_MANAGER_METRICS_PORT", 0, 0, 65535)
        document = load_document(env, backend)
        return cls(
            api_url=env_str(env, "SHOAL_API_URL").rstrip("/"),
            api_key=env_str(env, "SHOAL_API_KEY"),
            worker_api_key=env_optional(env, "SHOAL_WORKER_API_KEY"),
            backend=backend,
            job_types=document.job_types,
            registered_ecs=registered_ecs(env, document),
            tick_seconds=tick,
            lease_seconds=env_float(
                env, "SHOAL_MANAGER_LEASE_SECONDS", max(15.0, 3 * tick), 2 * tick, 3600.0
            ),
            metrics_port=port or None,
            silent_seconds=env_float(env, "SHOAL_MANAGER_SILENT_SECONDS", 20.0, 1.0, 86400.0),
            aws_region=env_optional(env, "AWS_REGION") or env_optional(env, "AWS_DEFAULT_REGION"),
        )


def load_document(env: Mapping[str, str], backend: str) -> ManagerDocument:
    """Read the document from the path or the inline variable and validate it."""
    inline = env_optional(env, "SHOAL_MANAGER_CONFIG_JSON")
    path = env_optional(env, "SHOAL_MANAGER_CONFIG")
    if inline is not None:
        name, text = "SHOAL_MANAGER_CONFIG_JSON", inline
    elif path is not None:
        name = "SHOAL_MANAGER_CONFIG"
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise SettingsError(f"{name}: cannot read {path}: {error.strerror}") from None
    elif backend == "local":
        return ManagerDocument(default_local_config())
    else:
        raise SettingsError("SHOAL_MANAGER_CONFIG (or SHOAL_MANAGER_CONFIG_JSON) is required")
    return parse_document(text, backend, name)


def parse_document(text: str, backend: str, name: str = "SHOAL_MANAGER_CONFIG") -> ManagerDocument:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(
            f"{name}: not valid JSON ({error.msg} at line {error.lineno})"
        ) from None
    try:
        loaded: ManagerDocument = ConfigSchema(context_backend=backend).load(raw)
    except ValidationError as error:
        raise SettingsError(f"{name}: {first_error(error.messages)}") from None
    return loaded


def registered_ecs(env: Mapping[str, str], document: ManagerDocument) -> RegisteredEcs | None:
    """``registered.ecs`` with its base task definition, which the variable overrides."""
    base = env_optional(env, "SHOAL_ECS_BASE_TASK_DEFINITION")
    found = document.registered_ecs
    if found is None:
        if base is not None:
            raise SettingsError(
                "SHOAL_ECS_BASE_TASK_DEFINITION: the settings document needs a registered.ecs"
                " section (cluster, subnets) to run registered types"
            )
        return None
    base = base or found.target.task_definition
    if not base:
        raise SettingsError(
            "registered.ecs.baseTaskDefinition: give it, or SHOAL_ECS_BASE_TASK_DEFINITION"
        )
    return replace(found, target=replace(found.target, task_definition=base))


def first_error(messages: Any, path: str = "") -> str:
    """The first validation message, prefixed with the dotted path of its field."""
    if isinstance(messages, Mapping):
        key, value = next(iter(messages.items()))
        # marshmallow nests dict values under "value"; the path reads better without it
        label = "" if key in ("_schema", "value") else str(key)
        return first_error(value, f"{path}.{label}".strip(".") if label else path)
    if isinstance(messages, list) and messages:
        if all(isinstance(item, str) for item in messages):
            return f"{path}: {messages[0]}" if path else str(messages[0])
        return first_error(messages[0], path)
    return f"{path}: {messages}"


def default_local_config() -> dict[str, JobTypeConfig]:
    """Every registered job type, default policy, default worker command."""
    return {
        name: JobTypeConfig(name=name, policy=ScalingPolicy(), local=LocalTarget())
        for name in default_registry().names()
    }
