"""Brute force: failed logins are bounded per account and per client address.

Past a bound the key is held back for a short delay (tests/security/test_login_throttling.py
follows it over HTTP until the right password is accepted again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.webapi.conftest import PASSWORD, MakeUser
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.services import EXTENSION
from webapi.settings import WebSettings


def attempt(client: FlaskClient, email: str, password: str, address: str = "10.0.0.1") -> int:
    response = client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.is_json
    return response.status_code


def test_account_is_held_back_after_the_bound(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("victim@example.org")
    # Default bound: 5 failures per account, from any address.
    codes = [attempt(client, "victim@example.org", "wrong", f"10.0.0.{i}") for i in range(5)]
    assert codes == [401] * 5
    # Now even the right password is refused until the delay passes.
    assert attempt(client, "victim@example.org", PASSWORD, "10.0.1.1") == 429
    # Other accounts are not affected.
    make_user("other@example.org")
    assert attempt(client, "other@example.org", PASSWORD, "10.0.1.1") == 200


def test_unknown_email_gets_the_same_answers(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("known@example.org")
    known = [attempt(client, "known@example.org", "wrong", "10.0.0.1") for _ in range(6)]
    unknown = [attempt(client, "ghost@example.org", "wrong", "10.0.0.2") for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]


def test_address_is_held_back_after_its_bound(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("real@example.org")
    # 20 failures from one address, spread over accounts so no account locks.
    codes = [attempt(client, f"guess{i}@example.org", "wrong", "10.9.9.9") for i in range(20)]
    assert codes == [401] * 20
    assert attempt(client, "real@example.org", PASSWORD, "10.9.9.9") == 429
    assert attempt(client, "real@example.org", PASSWORD, "10.9.9.10") == 200


def test_success_clears_the_account_count(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("careless@example.org")
    for _ in range(4):
        assert attempt(client, "careless@example.org", "wrong") == 401
    assert attempt(client, "careless@example.org", PASSWORD) == 200
    for _ in range(4):
        assert attempt(client, "careless@example.org", "wrong") == 401
    assert attempt(client, "careless@example.org", PASSWORD) == 200


@pytest.fixture
def short_window_app(web_env: dict[str, str]) -> Iterator[Flask]:
    env = {**web_env, "SHOAL_LOGIN_WINDOW_SECONDS": "1", "SHOAL_LOGIN_MAX_FAILURES": "2"}
    app = create_app(WebSettings.from_env(env))
    try:
        yield app
    finally:
        close_app(app)


def test_the_hold_ends_when_the_delay_passes(short_window_app: Flask) -> None:
    svc = short_window_app.extensions[EXTENSION]
    with svc.transaction() as conn:
        accounts.create_user(
            conn, svc.passwords, email="w@example.org", password=PASSWORD, roles=["DEFAULT"]
        )
    client = short_window_app.test_client()
    assert [attempt(client, "w@example.org", "wrong") for _ in range(3)] == [401, 401, 429]
    time.sleep(1.2)
    assert attempt(client, "w@example.org", PASSWORD) == 200


@pytest.fixture
def behind_proxy_app(web_env: dict[str, str]) -> Iterator[Flask]:
    env = {**web_env, "SHOAL_TRUSTED_PROXIES": "1", "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "2"}
    app = create_app(WebSettings.from_env(env))
    try:
        yield app
    finally:
        close_app(app)


def test_behind_a_proxy_the_forwarded_address_is_counted(behind_proxy_app: Flask) -> None:
    client = behind_proxy_app.test_client()

    def attempt_from(client_address: str, email: str) -> int:
        response = client.post(
            "/api/auth/login",
            json={"email": email, "password": "wrong"},
            headers={"X-Forwarded-For": client_address},
            environ_base={"REMOTE_ADDR": "10.0.0.254"},  # the load balancer
        )
        return response.status_code

    assert [attempt_from("203.0.113.7", f"u{i}@example.org") for i in range(3)] == [401, 401, 429]
    # Another client behind the same load balancer is not locked out.
    assert attempt_from("198.51.100.9", "u9@example.org") == 401


@pytest.fixture
def short_login_window_app(web_env: dict[str, str]) -> Iterator[Flask]:
    env = {**web_env, "SHOAL_LOGIN_WINDOW_SECONDS": "1"}
    app = create_app(WebSettings.from_env(env))
    try:
        yield app
    finally:
        close_app(app)


def test_a_failed_login_sweeps_only_old_login_counts(short_login_window_app: Flask) -> None:
    """Registration counts live for their own (longer) window, whatever logins sweep."""
    client = short_login_window_app.test_client()

    def register(i: int) -> int:
        body = {"email": f"new{i}@example.org", "password": PASSWORD}
        return client.post(
            "/api/auth/register", json=body, environ_base={"REMOTE_ADDR": "10.5.5.5"}
        ).status_code

    assert [register(i) for i in range(4)] == [200] * 4
    svc = short_login_window_app.extensions[EXTENSION]
    with svc.engine.begin() as conn:  # ten seconds on: past the login window, not this one
        conn.execute(text("UPDATE login_attempts SET window_start = now() - interval '10 seconds'"))
    assert attempt(client, "someone@example.org", "wrong", "10.6.6.6") == 401  # sweeps
    assert [register(i) for i in range(4, 6)] == [200, 429]
