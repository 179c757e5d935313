"""The worker's settings, read from the environment and validated at start."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.client import ClientSettings
from shared.errors import SettingsError
from shared.jobtypes import JobTypeRegistry, default_registry
from shared.settings import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_optional,
    env_str,
)
from worker.reporter import WINDOW_SECONDS

MAX_CLAIM_WAIT_SECONDS = 30
# The name of a job type registered in the API.
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Unsent log lines per job, counted with what each line costs in memory besides its
# text: 4 MiB hold a burst of ~14,000 lines of 100 bytes, more than the API keeps.
DEFAULT_LOG_BUFFER_BYTES = 4 * 1024 * 1024
# How long a job's results may keep failing to upload before its attempt is handed back:
# long enough for a throttled bucket or a brief outage, short beside a job's run time.
DEFAULT_UPLOAD_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class WorkerSettings:
    client: ClientSettings
    job_types: tuple[str, ...]
    concurrency: int = 1
    idle_timeout: float = 300.0  # 0 = never
    heartbeat_seconds: float = 10.0  # an upper bound; short leases beat more often
    grace_seconds: float = 30.0
    # How long a cancelled handler may take to stop before the worker exits to stop it.
    cancel_grace_seconds: float = 5.0
    # Touched once the API first answered a claim: the manager's sign that it came up.
    ready_file: Path | None = None
    claim_wait_seconds: int = 20
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "shoal-worker")
    log_level: str = "INFO"
    # Job logs: unsent lines kept per job (oldest dropped past it), how often a batch
    # goes out, how long the end-of-job flush may take, and whether fds 1/2 are captured.
    log_buffer_bytes: int = DEFAULT_LOG_BUFFER_BYTES
    log_interval_seconds: float = 1.0
    log_flush_seconds: float = 10.0
    capture_fds: bool = True
    upload_retry_seconds: float = DEFAULT_UPLOAD_RETRY_SECONDS
    # How long a finished job's result waits for others to go in the same request.
    result_window_seconds: float = WINDOW_SECONDS
    # The process's environment, for the result store of each assignment's URI.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], registry: JobTypeRegistry | None = None
    ) -> WorkerSettings:
        """Every variable checked; a bad one raises SettingsError naming it."""
        registry = registry or default_registry()
        job_types = env_list(env, "SHOAL_JOB_TYPES")
        if not job_types:
            raise SettingsError("SHOAL_JOB_TYPES is required but not set")
        # A type not built in may be registered in the API, run by its command.
        malformed = [name for name in job_types if name not in registry and not NAME.match(name)]
        if malformed:
            raise SettingsError(
                f"SHOAL_JOB_TYPES: {', '.join(malformed)} is not a job type name "
                f"(built in: {', '.join(registry.names())}; registered: {NAME.pattern})"
            )
        default_dir = str(Path(tempfile.gettempdir()) / "shoal-worker")
        return cls(
            client=ClientSettings.from_env(env),
            job_types=tuple(dict.fromkeys(job_types)),
            concurrency=env_int(env, "SHOAL_WORKER_CONCURRENCY", 1, 1, 64),
            idle_timeout=env_float(env, "SHOAL_IDLE_TIMEOUT_SECONDS", 300.0, 0, 7 * 86400),
            heartbeat_seconds=env_float(env, "SHOAL_HEARTBEAT_SECONDS", 10.0, 0.1, 3600),
            grace_seconds=env_float(env, "SHOAL_GRACE_SECONDS", 30.0, 0, 3600),
            cancel_grace_seconds=env_float(env, "SHOAL_CANCEL_GRACE_SECONDS", 5.0, 0.1, 3600),
            ready_file=_optional_path(env, "SHOAL_READY_FILE"),
            claim_wait_seconds=env_int(
                env, "SHOAL_CLAIM_WAIT_SECONDS", 20, 1, MAX_CLAIM_WAIT_SECONDS
            ),
            work_dir=Path(env_str(env, "SHOAL_WORK_DIR", default_dir)),
            log_level=env_choice(
                env, "SHOAL_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            log_buffer_bytes=env_int(
                env,
                "SHOAL_JOB_LOG_BUFFER_BYTES",
                DEFAULT_LOG_BUFFER_BYTES,
                64 * 1024,
                256 * 1024 * 1024,
            ),
            log_interval_seconds=env_float(env, "SHOAL_JOB_LOG_INTERVAL_SECONDS", 1.0, 0.05, 60),
            log_flush_seconds=env_float(env, "SHOAL_JOB_LOG_FLUSH_SECONDS", 10.0, 0, 600),
            capture_fds=env_bool(env, "SHOAL_JOB_LOG_CAPTURE_FDS", True),
            result_window_seconds=env_float(
                env, "SHOAL_RESULT_WINDOW_SECONDS", WINDOW_SECONDS, 0, 1
            ),
            upload_retry_seconds=env_float(
                env, "SHOAL_UPLOAD_RETRY_SECONDS", DEFAULT_UPLOAD_RETRY_SECONDS, 0, 86400
            ),
            env=dict(env),
        )


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env_optional(env, name)
    return Path(value) if value else None
