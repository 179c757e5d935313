"""Fixtures for the worker: a scripted server (for the ECS metadata endpoint), and the
real web API in this process over real HTTP, with in-process workers against it.

- ``api``: the web API (``create_app``) behind a threaded werkzeug server on the
  per-test database, local storage in ``tmp_path``; yields :class:`InProcessApi`.
  ``serve_api`` does the same for any database (a test's second platform).
- ``client``: a client of that server that never retries.
- ``start_worker(**env)``: a :class:`worker.runtime.Worker` running in a thread
  (signals are not installed); returns a :class:`RunningWorker`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from shared.client import RetryPolicy, ShoalClient
from shared.jobtypes import default_registry
from tests.e2e import live
from tests.shared.client.scripted_server import ScriptedServer, serve
from webapi.app import close_app, create_app
from webapi.settings import WebSettings
from worker.handlers import HandlerRegistry, load_handlers
from worker.identity import TaskIdentity
from worker.runtime import Worker
from worker.settings import WorkerSettings


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server (for the ECS metadata endpoint, not for shoal's API)."""
    with serve() as scripted:
        yield scripted


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[ShoalClient]:
    """A client of the scripted server that never retries."""
    with ShoalClient(server.url, api_key="k", retry=RetryPolicy(attempts=1)) as client:
        yield client


@dataclass(frozen=True)
class InProcessApi:
    url: str
    admin_key: str
    worker_key: str
    storage_dir: Path

    def client(self, key: str | None = None) -> ShoalClient:
        return ShoalClient(self.url, api_key=key or self.admin_key)


@dataclass
class RunningWorker:
    worker: Worker
    thread: threading.Thread
    exit_codes: list[int] = field(default_factory=list)

    def wait(self, timeout: float) -> int:
        """The exit code; fails the test if the worker is still running after ``timeout``."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the worker still runs after {timeout} s"
        return self.exit_codes[0]


@pytest.fixture(scope="session")
def jwt_pems() -> tuple[str, str]:
    return live.jwt_pems()


@pytest.fixture
def api_job_overrides() -> dict[str, dict[str, object]] | None:
    """``SHOAL_JOB_OVERRIDES`` of the API (None: TEST leases of 3 s); modules may override."""
    return None


@contextmanager
def serve_api(
    db_url: str,
    jwt_pems: tuple[str, str],
    storage_dir: Path,
    job_overrides: dict[str, dict[str, object]] | None = None,
) -> Iterator[InProcessApi]:
    """The web API on ``db_url`` over real HTTP in this process, until the block ends."""
    port = live.free_port()
    url = f"http://127.0.0.1:{port}"
    env = live.api_env(db_url, jwt_pems, storage_dir, url, job_overrides)
    admin_key, worker_key = live.credentials(env)
    app = create_app(WebSettings.from_env(env))
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield InProcessApi(url, admin_key, worker_key, storage_dir)
    finally:
        http.shutdown()
        thread.join(10)
        close_app(app)


@pytest.fixture
def api(
    db_url_str: str,
    jwt_pems: tuple[str, str],
    tmp_path: Path,
    api_job_overrides: dict[str, dict[str, object]] | None,
) -> Iterator[InProcessApi]:
    with serve_api(db_url_str, jwt_pems, tmp_path / "results", api_job_overrides) as served:
        yield served


@pytest.fixture
def start_worker(api: InProcessApi, tmp_path: Path) -> Iterator[Callable[..., RunningWorker]]:
    running: list[RunningWorker] = []

    def start(handlers: HandlerRegistry | None = None, **env: Any) -> RunningWorker:
        settings = WorkerSettings.from_env(
            {
                "SHOAL_API_URL": api.url,
                "SHOAL_API_KEY": api.worker_key,
                "SHOAL_JOB_TYPES": "TEST,POLYGON_STATS",
                "SHOAL_IDLE_TIMEOUT_SECONDS": "0",
                "SHOAL_CLAIM_WAIT_SECONDS": "1",
                "SHOAL_WORK_DIR": str(tmp_path / f"work-{len(running)}"),
                **{name: str(value) for name, value in env.items()},
            }
        )
        client = ShoalClient.from_settings(settings.client)
        identity = TaskIdentity(f"local:test:{len(running)}", "local")
        worker = Worker(settings, client, identity, default_registry(), handlers or load_handlers())
        entry = RunningWorker(worker, threading.Thread(target=lambda: None))
        entry.thread = threading.Thread(
            target=lambda: entry.exit_codes.append(worker.run(install_signals=False)),
            daemon=True,
        )
        entry.thread.start()
        running.append(entry)
        return entry

    try:
        yield start
    finally:
        for entry in running:
            entry.worker.stop("test over")
        for entry in running:
            entry.thread.join(15)
            entry.worker.claimer.join(15)  # its last long poll, before the client closes
            entry.worker.client.close()
