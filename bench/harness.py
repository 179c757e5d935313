"""The platform as real processes, for the benchmarks and the chaos test.

An embedded PostgreSQL that can be restarted on its data directory, ``shoal webapi``
(gunicorn) on a fixed port that can be restarted on it, ``shoal worker`` processes,
and credentials made with ``shoal db users create`` / ``shoal db api-keys create``. The
web API's settings are those of the end-to-end fixtures (tests/e2e/live.py), so
the benchmarks run what the tests run. (Not named ``platform``: scripts run from
bench/ would then shadow the standard library's.)
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from bench.support import migrate
from shared.client import ShoalClient
from tests.e2e import live
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import make_engine, normalize_url

SHOAL = str(Path(sys.executable).with_name("shoal"))
ADMIN_EMAIL = "bench-admin@example.org"
ANALYST_EMAIL = "bench-analyst@example.org"
START_TIMEOUT = 90.0


class PlatformError(RuntimeError):
    """A process of the platform did not start or stop as it should."""


def shoal(env: Mapping[str, str], *args: str) -> str:
    """Run a ``shoal`` command to completion; its stdout."""
    done = subprocess.run(
        [SHOAL, *args], env=dict(env), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise PlatformError(f"shoal {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


class Database:
    """A migrated database ``shoal`` on an embedded server in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.server = EmbeddedPostgres(data_dir, durable=True)
        self.url = ""

    def start(self) -> str:
        self.server.start()
        admin = create_engine(normalize_url(self.server.uri()), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                if not conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname='shoal'")
                ).first():
                    conn.execute(text("CREATE DATABASE shoal"))
        finally:
            admin.dispose()
        self.url = self.server.uri("shoal")
        migrate(self.url)
        return self.url

    def restart(self, mode: str = "immediate") -> float:
        """Stop the server (``immediate`` is a crash) and start it again; the seconds down."""
        started = time.monotonic()
        self.server.stop(mode)
        self.server.start()
        return time.monotonic() - started

    def stop(self) -> None:
        self.server.stop("fast")


class WebApi:
    """``shoal webapi`` on one port; ``restart`` stops the gunicorn master and starts anew."""

    def __init__(self, env: dict[str, str], port: int, log_dir: Path, workers: int = 2) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_dir = log_dir
        self.workers = workers
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_paths(self) -> list[Path]:
        return [self.log_dir / f"webapi-{n}.log" for n in range(1, self.starts + 1)]

    def start(self) -> None:
        self.starts += 1
        args = ["webapi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        with self.log_paths[-1].open("wb") as log:
            self.process = subprocess.Popen(
                [SHOAL, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise PlatformError(f"the web API exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise PlatformError(f"the web API did not become healthy:\n{self.log_tail()}")

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM the master (a graceful stop), and wait for it to exit."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise PlatformError("the web API did not stop within its graceful timeout") from None

    def restart(self) -> float:
        """Stop gracefully, start again on the same port; the seconds until healthy."""
        started = time.monotonic()
        self.stop()
        self.start()
        self.wait_healthy()
        return time.monotonic() - started

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_paths[-1].read_text(errors="replace")[-chars:] if self.starts else ""

    def internal_errors(self) -> int:
        """How many requests ended in a 500, over every start."""
        return sum(
            path.read_text(errors="replace").count('"http.internal_error"')
            for path in self.log_paths
        )


@dataclass
class WorkerProcess:
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Platform:
    """The running platform: database, web API, credentials, and the workers started."""

    root: Path
    database: Database
    api: WebApi
    admin_password: str
    worker_key: str
    analyst_password: str
    worker_env: dict[str, str] = field(repr=False)
    workers: list[WorkerProcess] = field(default_factory=list)
    engine: Engine | None = None

    @property
    def url(self) -> str:
        return self.api.url

    def admin_client(self, **kwargs: Any) -> ShoalClient:
        return ShoalClient(self.url, email=ADMIN_EMAIL, password=self.admin_password, **kwargs)

    def sql(self) -> Engine:
        """An engine on the platform's database, for checks from outside the API."""
        if self.engine is None:
            self.engine = make_engine(self.database.url, pool_size=2, max_overflow=2)
        return self.engine

    def start_worker(self, **env: Any) -> WorkerProcess:
        index = len(self.workers)
        full_env = {
            **self.worker_env,
            "SHOAL_WORK_DIR": str(self.root / "work" / str(index)),
            **{name: str(value) for name, value in env.items()},
        }
        log_path = self.root / "logs" / f"worker-{index}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [SHOAL, "worker"], env=full_env, stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(WorkerProcess(popen, log_path))
        return self.workers[-1]

    def alive_workers(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.alive()]

    def stop_workers(self) -> None:
        for worker in self.alive_workers():
            worker.popen.kill()
        for worker in self.workers:
            worker.popen.wait(10)

    def worker_log_count(self, action: str) -> int:
        """How many log lines with this action all workers wrote."""
        needle = f'"action": "{action}"'
        return sum(worker.logs().count(needle) for worker in self.workers)


def base_env() -> dict[str, str]:
    """The end-to-end fixtures' clean environment, with bytecode caching allowed.

    Process starts are part of what the chaos run measures, and an installed shoal
    has its bytecode compiled; recompiling every module on each start would not.
    """
    env = live.base_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def api_env(
    database_url: str, storage_dir: Path, url: str, job_overrides: Mapping[str, Any]
) -> dict[str, str]:
    """The end-to-end fixtures' web API settings, with these job overrides."""
    env = {**base_env(), **live.api_env(database_url, live.jwt_pems(), storage_dir, url)}
    env["SHOAL_JOB_OVERRIDES"] = json.dumps(job_overrides)
    return env


def _credentials(env: dict[str, str]) -> tuple[str, str, str]:
    """The admin's password, a WORKER key, and an ANALYST's password."""
    admin, analyst = secrets.token_urlsafe(16), secrets.token_urlsafe(16)

    def admin_and_key() -> str:
        shoal(env, "db", "users", "create", ADMIN_EMAIL, "--password", admin, "--role", "ADMIN")
        return shoal(env, "db", "api-keys", "create", "bench workers", "--role", "WORKER").strip()

    with ThreadPoolExecutor(2) as pool:  # each command is mostly Python starting up
        key = pool.submit(admin_and_key)
        analyst_args = ["create", ANALYST_EMAIL, "--password", analyst, "--role", "ANALYST"]
        pool.submit(shoal, env, "db", "users", *analyst_args).result()
        return admin, key.result(), analyst


@contextmanager
def running_platform(
    root: Path,
    *,
    job_overrides: Mapping[str, Any] | None = None,
    api_workers: int = 2,
    worker_env: Mapping[str, Any] | None = None,
    api_extra_env: Mapping[str, str] | None = None,
) -> Iterator[Platform]:
    """Start PostgreSQL and the web API in ``root``; everything is stopped on exit."""
    for sub in ("logs", "work", "results"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    overrides = job_overrides or {"TEST": {"leaseSeconds": 3, "maxAttempts": 20}}
    with ExitStack() as stack:
        database = Database(root / "postgres")
        stack.callback(database.stop)
        database_url = database.start()
        port = live.free_port()
        env = api_env(database_url, root / "results", f"http://127.0.0.1:{port}", overrides)
        env.update(api_extra_env or {})
        api = WebApi(env, port, root / "logs", api_workers)
        api.start()
        stack.callback(api.stop)
        admin, key, analyst = _credentials(env)  # while gunicorn boots
        api.wait_healthy()
        workers = {
            **base_env(),
            "SHOAL_API_URL": api.url,
            "SHOAL_API_KEY": key,
            "SHOAL_JOB_TYPES": "TEST",
            "SHOAL_IDLE_TIMEOUT_SECONDS": "0",
            "SHOAL_CLAIM_WAIT_SECONDS": "2",
            "SHOAL_HEARTBEAT_SECONDS": "1",
            **{name: str(value) for name, value in (worker_env or {}).items()},
        }
        platform = Platform(root, database, api, admin, key, analyst, workers)
        stack.callback(lambda: platform.engine.dispose() if platform.engine else None)
        stack.callback(platform.stop_workers)
        yield platform


def environment_ready() -> None:
    """Fail early, in one line, when the virtualenv's ``shoal`` is not where we look."""
    if not os.path.exists(SHOAL):
        raise SystemExit(f"{SHOAL} not found: run with the virtualenv's python (.venv/bin/python)")
