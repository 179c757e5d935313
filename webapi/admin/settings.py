"""Which compute backend the admin routes act on, read with the web API's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import env_choice, env_optional, env_str


@dataclass(frozen=True)
class ComputeSettings:
    backend: str = "local"
    ecs_cluster: str | None = None
    ecs_service: str | None = None
    aws_region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ComputeSettings:
        backend = env_choice(env, "SHOAL_COMPUTE_BACKEND", "local", ("ecs", "local"))
        if backend == "local":
            return cls()
        return cls(
            backend=backend,
            ecs_cluster=env_str(env, "SHOAL_ECS_CLUSTER"),
            ecs_service=env_str(env, "SHOAL_ECS_SERVICE"),
            aws_region=env_optional(env, "AWS_REGION") or env_optional(env, "AWS_DEFAULT_REGION"),
        )
