"""``/api/health`` (Flask's test client): SHOAL_HEALTH_REQUIRES_MANAGER on its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.webapi.conftest import IssuedKey

NOT_YET = {"status": "unavailable", "message": "The manager is not running yet."}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_HEALTH_REQUIRES_MANAGER": "1"}


def test_healthy_only_while_a_manager_holds_its_lease(
    client: FlaskClient, api_key: Callable[..., IssuedKey]
) -> None:
    manager = api_key(("MANAGER",)).headers
    answer = client.get("/api/health")
    assert (answer.status_code, answer.json) == (503, NOT_YET)
    lease = {"holder": "manager-1", "ttlSeconds": 30}
    assert client.post("/api/manager/lease", json=lease, headers=manager).json["held"] is True
    answer = client.get("/api/health")
    assert (answer.status_code, answer.json) == (200, {"status": "ok"})
    released = client.delete("/api/manager/lease?holder=manager-1", headers=manager)
    assert released.json == {"released": True}
    answer = client.get("/api/health")
    assert (answer.status_code, answer.json) == (503, NOT_YET)


def test_an_expired_lease_is_no_running_manager(
    client: FlaskClient, api_key: Callable[..., IssuedKey], services
) -> None:
    manager = api_key(("MANAGER",)).headers
    client.post("/api/manager/lease", json={"holder": "m", "ttlSeconds": 30}, headers=manager)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE leases SET expires_at = now() - interval '1 second'"))
    answer = client.get("/api/health")
    assert (answer.status_code, answer.json) == (503, NOT_YET)
