"""The real web API served over HTTP in-process, and a runner for ``shoal`` commands.

The web API's fixtures are reused as they are; ``web_env`` is the jobs tests' one
(local storage, short leases, fast keep-alives), spelled out here because a
fixture cannot extend another of the same name within one module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner, Result

from shoal_cli.main import cli
from tests.webapi import conftest as webapi_fixtures
from tests.webapi.conftest import PASSWORD, IssuedKey
from tests.webapi.jobs import conftest as jobs_fixtures
from tests.webapi.jobs.conftest import Caller

# The web API's fixtures, visible to these tests.
jwt_key_pair = webapi_fixtures.jwt_key_pair
web_settings = webapi_fixtures.web_settings
app = webapi_fixtures.app
services = webapi_fixtures.services
make_user = webapi_fixtures.make_user
auth_headers = webapi_fixtures.auth_headers
admin = webapi_fixtures.admin
api_key = webapi_fixtures.api_key
live_url = jobs_fixtures.live_url
analyst = jobs_fixtures.analyst
worker = jobs_fixtures.worker

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
# Every variable the client reads; each test sets the ones it wants and clears the rest.
CLIENT_VARIABLES = ("SHOAL_API_URL", "SHOAL_API_KEY", "SHOAL_EMAIL", "SHOAL_PASSWORD")


@pytest.fixture
def web_env(db_url_str: str, jwt_key_pair: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    private, public = jwt_key_pair
    return {
        "DATABASE_URL": db_url_str,
        "SHOAL_JWT_PRIVATE_KEY": private,
        "SHOAL_JWT_PUBLIC_KEY": public,
        "SHOAL_PASSWORD_HASH_FAST": "1",
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(tmp_path / "results"),
        "SHOAL_SIGNING_SECRET": "test-signing-secret",
        "SHOAL_SWEEP_SECONDS": "0.5",
        "SHOAL_SSE_KEEPALIVE_SECONDS": "0.5",
        "SHOAL_DB_POOL_SIZE": "20",
    }


Shoal = Callable[..., Result]


def run_shoal(args: list[str], env: dict[str, str | None], stdin: str | None = None) -> Result:
    cleared: dict[str, str | None] = dict.fromkeys(CLIENT_VARIABLES)
    return CliRunner().invoke(cli, args, env={**cleared, **env}, input=stdin)


@pytest.fixture
def analyst_env(live_url: str, analyst: Caller) -> dict[str, str | None]:
    """An analyst who logs in with email and password (the fixture's user)."""
    return {
        "SHOAL_API_URL": live_url,
        "SHOAL_EMAIL": "analyst@example.org",
        "SHOAL_PASSWORD": PASSWORD,
    }


@pytest.fixture
def admin_env(live_url: str, api_key: Callable[..., IssuedKey]) -> dict[str, str | None]:
    """An admin's API key."""
    return {"SHOAL_API_URL": live_url, "SHOAL_API_KEY": api_key(("ADMIN",)).key}


@pytest.fixture
def shoal_as_analyst(analyst_env: dict[str, str | None]) -> Shoal:
    def run(*args: str, stdin: str | None = None, **env: str | None) -> Result:
        return run_shoal(list(args), {**analyst_env, **env}, stdin)

    return run


@pytest.fixture
def shoal_as_admin(admin_env: dict[str, str | None]) -> Shoal:
    def run(*args: str, **env: str | None) -> Result:
        return run_shoal(list(args), {**admin_env, **env})

    return run


@dataclass
class FakeWorker:
    """Plays a worker over real HTTP in a thread: claim, progress, files, logs, result."""

    url: str
    headers: dict[str, str]
    progress: list[tuple[float, str]] = field(default_factory=lambda: [(0.5, "halfway")])
    files: dict[str, str] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)  # shipped before the result
    outcome: dict[str, Any] = field(
        default_factory=lambda: {"status": "SUCCEEDED", "resultPayload": {}}
    )
    pause: float = 0.6
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> FakeWorker:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        assert not self.errors, self.errors

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # reported by join() in the test's thread
            self.errors.append(error)

    def _work(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=40) as http:
            claimed = http.post("/api/jobs/claim", json={**CLAIM, "waitSeconds": 20})
            assert claimed.status_code == 200, claimed.text
            assignment = claimed.json()["assignment"]
            base = f"/api/jobs/assignments/{assignment['id']}"
            # Pauses let the command under test see each state as its own event.
            for fraction, message in self.progress:
                threading.Event().wait(self.pause)
                beat = http.post(
                    f"{base}/heartbeat", json={"progress": fraction, "message": message}
                )
                assert beat.status_code == 200, beat.text
            directory = Path(urlsplit(assignment["storage_uri"]).path)
            for name, content in self.files.items():
                (directory / name).parent.mkdir(parents=True, exist_ok=True)
                (directory / name).write_text(content)
            if self.logs:
                shipped = http.post(f"{base}/logs", json={"lines": self.logs})
                assert shipped.status_code == 200, shipped.text
            threading.Event().wait(self.pause)
            result = http.post(f"{base}/result", json=self.outcome)
            assert result.status_code == 200, result.text


@pytest.fixture
def fake_worker(live_url: str, worker: Caller) -> Iterator[Callable[..., FakeWorker]]:
    started: list[FakeWorker] = []

    def start(**options: Any) -> FakeWorker:
        playing = FakeWorker(live_url, worker.headers, **options).start()
        started.append(playing)
        return playing

    yield start
    for playing in started:
        if playing.thread is not None:
            playing.thread.join(timeout=30)


@pytest.fixture
def submit_job(live_url: str, analyst: Caller) -> Callable[..., int]:
    """Submit over HTTP as the analyst; returns the job id."""

    def submit(payload: dict[str, Any] | None = None, job_type: str = "TEST") -> int:
        body = {"type": job_type, "inputPayload": payload or {"id": 1}}
        answer = httpx.post(f"{live_url}/api/jobs", json=body, headers=analyst.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        job_id: int = answer.json()["jobId"]
        return job_id

    return submit
