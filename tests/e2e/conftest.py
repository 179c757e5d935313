"""Live-platform fixtures: the real web API and real workers as subprocesses.

- ``live_api``: ``shoal webapi`` (gunicorn, two workers) on a free port against the
  per-test database, local result storage in ``tmp_path``, and TEST leases of 3 s.
  The admin and a WORKER API key are made with ``shoal db users create`` and ``shoal
  db api-keys create``. Yields a :class:`LiveApi`: its URL, the worker key, an admin client.
- ``start_api(workers=2, **settings)``: more such instances on the same database (one
  admin and key for all), with settings added or overridden, e.g.
  ``SHOAL_CLAIM_RECHECK_SECONDS=60``. Both fail the test at teardown when a process of
  the web API logged a blocked event loop (a greenlet that held it past
  ``live.LOOP_BLOCK_REPORT_MS``) or gunicorn killed one for its timeout.
- ``worker_process(job_types="TEST", api=None, **env)``: starts ``shoal worker``
  subprocesses against ``api`` (by default ``live_api``), extra settings as keyword
  arguments (e.g. ``SHOAL_GRACE_SECONDS=2``); every one still running is killed at
  teardown. Their logs are printed when a test fails.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.client import ShoalClient
from shared.client.health import wait_healthy
from tests.e2e import live

SHOAL = str(Path(sys.executable).with_name("shoal"))
START_TIMEOUT = 60.0


ADMIN_EMAIL = "e2e-admin@example.org"


@dataclass(frozen=True)
class LiveApi:
    url: str
    admin_password: str
    worker_key: str
    storage_dir: Path
    log_path: Path
    pid: int  # gunicorn's master; its children serve the requests
    manager_key: str

    def client(self, **kwargs: Any) -> ShoalClient:
        """A client logged in as the admin (email and password, bearer tokens)."""
        return ShoalClient(self.url, email=ADMIN_EMAIL, password=self.admin_password, **kwargs)


@dataclass
class WorkerProcess:
    popen: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def _shoal(env: dict[str, str], *args: str) -> str:
    """Run a ``shoal`` command; its stdout."""
    done = subprocess.run(
        [SHOAL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"shoal {args[0]} {args[1]} failed: {done.stderr}"
    return done.stdout


def _credentials(env: dict[str, str]) -> tuple[str, str, str]:
    """An admin's password, a WORKER key and a MANAGER key, made with ``shoal db users/api-keys
    create``."""
    password = secrets.token_urlsafe(16)
    _shoal(env, "db", "users", "create", ADMIN_EMAIL, "--password", password, "--role", "ADMIN")
    keys = []
    for name, role in (("e2e workers", "WORKER"), ("e2e manager", "MANAGER")):
        key = _shoal(env, "db", "api-keys", "create", name, "--role", role).strip()
        assert key and "\n" not in key
        keys.append(key)
    return password, keys[0], keys[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    if not wait_healthy(url, START_TIMEOUT, still_starting=lambda: process.poll() is None):
        state = "exited" if process.poll() is not None else "did not become healthy"
        pytest.fail(f"the web API {state}:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def jwt_pems() -> tuple[str, str]:
    return live.jwt_pems()


StartApi = Callable[..., LiveApi]


@pytest.fixture
def start_api(
    db_url_str: str, jwt_pems: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartApi]:
    """Start ``shoal webapi`` instances on this test's database; all stop at teardown."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    credentials: list[tuple[str, str, str]] = []

    def start(workers: int = 2, **settings: Any) -> LiveApi:
        port = live.free_port()
        url = f"http://127.0.0.1:{port}"
        storage_dir = tmp_path / "results"
        env = {
            **live.base_env(),
            **live.api_env(db_url_str, jwt_pems, storage_dir, url),
            **{name: str(value) for name, value in settings.items()},
        }
        log_path = tmp_path / f"webapi-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [SHOAL, "webapi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append((process, log_path))
        if not credentials:
            credentials.append(_credentials(env))  # while gunicorn boots
        _wait_healthy(url, process, log_path)
        password, worker_key, manager_key = credentials[0]
        return LiveApi(url, password, worker_key, storage_dir, log_path, process.pid, manager_key)

    try:
        yield start
    finally:
        for process, log_path in started:
            _stop(process)
            if getattr(request.node, "failed", False):
                sys.stderr.write(
                    f"--- {log_path.name} ---\n{log_path.read_text(errors='replace')}\n"
                )
    blocks = [b for _, log_path in started for b in live.loop_blocks(log_path.read_text())]
    if blocks:
        pytest.fail("the web API's event loop was blocked:\n" + "\n".join(blocks[:5]))


@pytest.fixture
def live_api(start_api: StartApi) -> LiveApi:
    return start_api()


@pytest.fixture
def worker_process(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(job_types: str = "TEST", api: LiveApi | None = None, **env: Any) -> WorkerProcess:
        index = len(started)
        api = api or request.getfixturevalue("live_api")
        full_env = {
            **live.base_env(),
            "SHOAL_API_URL": api.url,
            "SHOAL_API_KEY": api.worker_key,
            "SHOAL_JOB_TYPES": job_types,
            "SHOAL_IDLE_TIMEOUT_SECONDS": "0",
            "SHOAL_CLAIM_WAIT_SECONDS": "2",
            "SHOAL_WORK_DIR": str(tmp_path / f"work-{index}"),
            **{name: str(value) for name, value in env.items()},
        }
        log_path = tmp_path / f"worker-{index}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [SHOAL, "worker"], env=full_env, stdout=log, stderr=subprocess.STDOUT
            )
        started.append(WorkerProcess(popen, log_path, full_env))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            if worker.popen.poll() is None:
                worker.popen.kill()
            worker.popen.wait(10)
        if getattr(request.node, "failed", False):
            for worker in started:
                sys.stderr.write(f"--- worker {worker.pid} log ---\n{worker.logs()}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Mark the test node as failed, so fixtures can print the processes' logs."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report
