"""A registered type's worker in its own image, for the local backend
(``SHOAL_LOCAL_CONTAINERS=podman|docker``).

The container runs ``shoal worker --job-types NAME`` in the type's ``run.image`` on the
host's network (the web API listens on 127.0.0.1). Variables are passed by name only
(``-e NAME``: the engine reads the value from its own environment), so no key or secret
reaches a command line. The worker's ready file and the local result store are mounted
at the same paths, so the backend sees the worker come up and the web API finds the
files it uploads. The worker names itself as the backend names the engine's process
(``local:<host>:<pid>``, in ``SHOAL_TASK_ARN``): a shell starts the engine by ``exec``,
so the pid it tells is the engine's. The worker runs as this user (rootless podman:
the same user by its ``keep-id`` namespace), so what it writes there is this user's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

# What the worker in the container reads (worker/settings.py, shared/storage), when set.
WORKER_SETTINGS = (
    "SHOAL_API_URL",
    "SHOAL_API_KEY",
    "SHOAL_JOB_TYPES",
    "SHOAL_READY_FILE",
    "SHOAL_API_TIMEOUT_SECONDS",
    "SHOAL_CANCEL_GRACE_SECONDS",
    "SHOAL_CLAIM_WAIT_SECONDS",
    "SHOAL_GRACE_SECONDS",
    "SHOAL_HEARTBEAT_SECONDS",
    "SHOAL_IDLE_TIMEOUT_SECONDS",
    "SHOAL_JOB_LOG_BUFFER_BYTES",
    "SHOAL_JOB_LOG_FLUSH_SECONDS",
    "SHOAL_JOB_LOG_INTERVAL_SECONDS",
    "SHOAL_LOG_LEVEL",
    "SHOAL_STORAGE",
    "SHOAL_LOCAL_STORAGE_DIR",
    "SHOAL_S3_ENDPOINT_URL",
    "SHOAL_UPLOAD_RETRY_SECONDS",
    "SHOAL_WORKER_CONCURRENCY",
    "PYTHONUNBUFFERED",
)
# Run with the host's name as $0: the engine gets this shell's pid, and the worker the name.
AS_THIS_PROCESS = 'SHOAL_TASK_ARN="local:$0:$$" exec "$@"'


def container_command(
    engine: str,
    image: str,
    job_type: str,
    env: Mapping[str, str],
    *,
    secrets: Iterable[str] = (),
    mounts: Iterable[Path] = (),
    user: tuple[int, int] = (0, 0),
    host: str = "localhost",
) -> list[str]:
    """``sh -c ... <engine> run ... <image> shoal worker --job-types <job_type>``; ``env``
    is the environment the engine runs with: the names set there are passed on; ``user``
    is the (uid, gid) the engine runs as, ``host`` the name of this machine."""
    names = [*WORKER_SETTINGS, *sorted(n for n in env if n.startswith("AWS_")), *secrets]
    argv = [engine, "run", "--rm", "--init", "--network", "host", *_as_user(engine, user)]
    for name in dict.fromkeys(names):
        if name in env:
            argv += ["--env", name]
    argv += ["--env", "SHOAL_TASK_ARN"]
    for path in dict.fromkeys(mounts):
        argv += ["--volume", f"{path}:{path}"]
    worker = [image, "shoal", "worker", "--job-types", job_type]
    return ["sh", "-c", AS_THIS_PROCESS, host, *argv, *worker]


def _as_user(engine: str, user: tuple[int, int]) -> list[str]:
    if engine == "podman" and user[0] != 0:
        return ["--userns", "keep-id"]  # rootless: this uid, mapped to itself
    return ["--user", f"{user[0]}:{user[1]}"]
