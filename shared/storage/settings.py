"""Which result store to use, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.enums import StorageScheme
from shared.settings import env_choice, env_optional, env_str


@dataclass(frozen=True)
class StorageSettings:
    scheme: StorageScheme = StorageScheme.LOCAL
    local_dir: Path = Path(".shoal/results")
    signing_secret: str | None = field(default=None, repr=False)
    s3_bucket: str | None = None
    s3_prefix: str = "results"
    s3_endpoint_url: str | None = None
    aws_region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StorageSettings:
        """``SHOAL_STORAGE`` = local (default) or s3, and that backend's variables."""
        kind = env_choice(env, "SHOAL_STORAGE", "local", ("local", "s3"))
        local_dir = Path(env_str(env, "SHOAL_LOCAL_STORAGE_DIR", "./.shoal/results"))
        return cls(
            scheme=StorageScheme.S3 if kind == "s3" else StorageScheme.LOCAL,
            local_dir=Path(os.path.abspath(local_dir.expanduser())),
            signing_secret=env_optional(env, "SHOAL_SIGNING_SECRET"),
            s3_bucket=env_str(env, "SHOAL_S3_BUCKET") if kind == "s3" else None,
            s3_prefix=env_str(env, "SHOAL_S3_PREFIX", "results").strip("/"),
            s3_endpoint_url=env_optional(env, "SHOAL_S3_ENDPOINT_URL"),
            aws_region=env_optional(env, "AWS_REGION"),
        )
