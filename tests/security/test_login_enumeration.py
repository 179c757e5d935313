"""Logins never tell whether an email has an account: not by status, body, headers,
nor (roughly) by time, before and after the failure bound.

tests/webapi/test_login_limits.py covers the bounds themselves (per account, per
address, the window, proxies); these tests compare the two kinds of failure whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.conftest import PASSWORD, MakeUser
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.services import EXTENSION
from webapi.settings import WebSettings

# Headers that differ between any two responses, whatever they answer.
VARYING = {"date", "content-length"}


def _attempt(client: FlaskClient, email: str, password: str, address: str) -> Any:
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _answer(response: Any) -> tuple[int, Any, dict[str, str]]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}
    return response.status_code, response.json, headers


def test_unknown_email_and_wrong_password_answer_alike_before_and_after_the_bound(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("known@example.org")
    # Default bound: 5 failures per account. Two runs of 7 from fresh addresses.
    known = [_answer(_attempt(client, "known@example.org", "wrong!", "10.1.0.1")) for _ in range(7)]
    unknown = [
        _answer(_attempt(client, "ghost@example.org", "wrong!", "10.2.0.1")) for _ in range(7)
    ]
    assert [status for status, _, _ in known] == [401] * 5 + [429] * 2
    assert known == unknown
    # Once locked, even the right password gets exactly the locked answer.
    locked = _answer(_attempt(client, "known@example.org", PASSWORD, "10.3.0.1"))
    assert locked == known[-1]
    assert set(locked[1]) == {"message"}


@pytest.fixture
def real_hashing_app(web_env: dict[str, str]) -> Iterator[Flask]:
    """Production password hashing (argon2id, ~50 ms), and bounds out of the way."""
    env = {k: v for k, v in web_env.items() if k != "SHOAL_PASSWORD_HASH_FAST"}
    env |= {"SHOAL_LOGIN_MAX_FAILURES": "1000", "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000"}
    app = create_app(WebSettings.from_env(env))
    try:
        yield app
    finally:
        close_app(app)


def _seconds(client: FlaskClient, email: str) -> float:
    started = time.perf_counter()
    assert _attempt(client, email, "not the password", "10.9.9.9").status_code == 401
    return time.perf_counter() - started


def _fastest_each(client: FlaskClient, emails: tuple[str, str], rounds: int = 9) -> list[float]:
    """Each email's fastest attempt, the two taken in turn: the fastest run is the one
    least disturbed by whatever else the machine does, and taking them in turn gives
    both the same disturbances."""
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for i, email in enumerate(emails):
            times[i].append(_seconds(client, email))
    return [min(t) for t in times]


def test_unknown_email_costs_about_as_much_as_a_wrong_password(real_hashing_app: Flask) -> None:
    svc = real_hashing_app.extensions[EXTENSION]
    with svc.transaction() as conn:
        accounts.create_user(
            conn, svc.passwords, email="real@example.org", password=PASSWORD, roles=["ANALYST"]
        )
    client = real_hashing_app.test_client()
    _attempt(client, "warm@example.org", "x", "10.0.0.1")  # first request pays for imports
    known, unknown = _fastest_each(client, ("real@example.org", "nobody@example.org"))
    # Both verify a full argon2 hash: tens of milliseconds, within a loose factor.
    assert known > 0.01 and unknown > 0.01, (known, unknown)
    assert 0.5 < unknown / known < 2.0, (known, unknown)
