"""Settings of the jobs area, read once at start-up with the rest of the web API's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import SettingsError
from shared.jobtypes import JobTypeRegistry, default_registry
from shared.jobtypes.registry import with_overrides
from shared.settings import env_choice, env_float, env_int, env_list, env_optional
from shared.storage import StorageSettings


@dataclass(frozen=True)
class JobsSettings:
    storage: StorageSettings = field(default_factory=lambda: StorageSettings.from_env({}))
    # {"TYPE": {"leaseSeconds": n, "maxAttempts": n, "cacheResults": bool, "cacheScope": ...,
    #  "logLimitBytes": n}}
    job_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sweep_seconds: float = 2.0
    claim_recheck_seconds: float = 5.0
    retention_days: int = 0
    public_url: str | None = None
    keepalive_seconds: float = 15.0
    # The first retry of a failed deletion of stored files; it doubles up to a day.
    cleanup_retry_seconds: float = 60.0
    # Per API process: waiting claims per worker (credential + ecsTaskArn), open
    # event streams per credential; past them, 429.
    max_waiting_claims: int = 16
    max_event_streams: int = 20
    # Log bytes kept per attempt, for job types without their own logLimitBytes.
    log_limit_bytes: int = 1024 * 1024
    # The body of POST /api/jobs/batch (up to 10,000 inputs); other bodies: SHOAL_MAX_BODY_BYTES.
    max_batch_body_bytes: int = 32 * 1024 * 1024
    # A batch's inputs are checked within this (in a forked child), or it is refused: a
    # schema's pattern that backtracks may never end. 10,000 polygons of 400 vertices take
    # about 10 s on a busy CPU.
    batch_check_seconds: float = 60.0
    # Claims serve the least loaded user first (off: the oldest job first).
    fair_share: bool = True
    # Image prefixes a registered type's run.image may start with ("*": any; none: no image).
    allowed_images: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobsSettings:
        return cls(
            storage=StorageSettings.from_env(env),
            job_overrides=_overrides(env),
            sweep_seconds=env_float(env, "SHOAL_SWEEP_SECONDS", 2.0, 0.1, 3600),
            claim_recheck_seconds=env_float(env, "SHOAL_CLAIM_RECHECK_SECONDS", 5.0, 0.1, 60),
            retention_days=env_int(env, "SHOAL_JOB_RETENTION_DAYS", 0, 0, 36500),
            public_url=env_optional(env, "SHOAL_PUBLIC_URL"),
            keepalive_seconds=env_float(env, "SHOAL_SSE_KEEPALIVE_SECONDS", 15.0, 0.1, 300),
            cleanup_retry_seconds=env_float(
                env, "SHOAL_STORAGE_CLEANUP_RETRY_SECONDS", 60.0, 0.01, 86400
            ),
            max_waiting_claims=env_int(env, "SHOAL_MAX_WAITING_CLAIMS", 16, 1, 100_000),
            max_event_streams=env_int(env, "SHOAL_MAX_EVENT_STREAMS", 20, 1, 100_000),
            log_limit_bytes=env_int(
                env, "SHOAL_JOB_LOG_LIMIT_BYTES", 1024 * 1024, 1024, 1024 * 1024 * 1024
            ),
            max_batch_body_bytes=env_int(
                env, "SHOAL_MAX_BATCH_BODY_BYTES", 32 * 1024 * 1024, 1024, 1024 * 1024 * 1024
            ),
            batch_check_seconds=env_float(env, "SHOAL_BATCH_CHECK_SECONDS", 60.0, 0.1, 3600),
            fair_share=env_choice(env, "SHOAL_FAIR_SHARE", "on", ("on", "off")) == "on",
            allowed_images=env_list(env, "SHOAL_ALLOWED_IMAGES"),
        )

    def registry(self, base: JobTypeRegistry) -> JobTypeRegistry:
        return with_overrides(base, self.job_overrides)


def _overrides(env: Mapping[str, str]) -> Mapping[str, Mapping[str, Any]]:
    raw = env_optional(env, "SHOAL_JOB_OVERRIDES")
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError("SHOAL_JOB_OVERRIDES must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise SettingsError("SHOAL_JOB_OVERRIDES must map job types to objects")
    try:
        with_overrides(default_registry(), value)
    except ValueError as error:
        raise SettingsError(f"SHOAL_JOB_OVERRIDES: {error}") from None
    return value
