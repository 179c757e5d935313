"""Neither logging in nor registering tells whether an email has an account: not by
status, body, headers, nor (roughly) by time; logins before and after the failure
bound, registrations in every mode, without breaking pre-approval.

tests/webapi/test_login_limits.py covers the bounds themselves (per account, per
address, the window, proxies); these tests compare the two kinds of answer whole.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.conftest import PASSWORD, MakeUser
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.auth.registration import REGISTERED
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


def _register(client: FlaskClient, email: str, password: str = "a new password") -> Any:
    return client.post("/api/auth/register", json={"email": email, "password": password})


def test_a_taken_email_registers_as_a_new_one(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("taken@example.org")
    new = _answer(_register(client, "new@example.org"))
    taken = _answer(_register(client, "Taken@example.org"))
    assert new[:2] == (200, {"message": REGISTERED})
    assert taken == new
    # Nothing changed for the taken one: its own password still logs in, the new one not.
    logins = [
        _attempt(client, "taken@example.org", password, "10.4.0.1")
        for password in (PASSWORD, "a new password")
    ]
    assert [login.status_code for login in logins] == [200, 401]


def test_pre_approval_still_decides_and_says_nothing_of_accounts(
    web_env: dict[str, str], make_user: MakeUser
) -> None:
    env = {**web_env, "SHOAL_REGISTRATION": "pre-approved-only"}
    app = create_app(WebSettings.from_env(env))
    try:
        client = app.test_client()
        svc = app.extensions[EXTENSION]
        with svc.transaction() as conn:
            accounts.pre_approve(
                conn, email="invited@example.org", roles=["ANALYST"], actor_id=None
            )
        make_user("member@example.org")
        # Not pre-approved: refused alike, whether the email has an account or not.
        stranger = _answer(_register(client, "stranger@example.org"))
        member = _answer(_register(client, "member@example.org"))
        assert stranger[0] == 403 and member == stranger
        # Pre-approved: registered, with the answer of any registration, and the roles
        # it was approved with; the approval is then used (403 like a stranger).
        invited = _register(client, "invited@example.org")
        assert (invited.status_code, invited.json) == (200, {"message": REGISTERED})
        assert _answer(_register(client, "invited@example.org")) == stranger
        token = _attempt(client, "invited@example.org", "a new password", "10.5.0.1").json
        bearer = {"Authorization": f"Bearer {token['token']}"}
        profile = client.get("/api/auth/profile", headers=bearer)
        assert profile.json["user"]["roles"] == ["ANALYST"]
    finally:
        close_app(app)


@pytest.fixture
def real_hashing_app(web_env: dict[str, str]) -> Iterator[Flask]:
    """Production password hashing (argon2id, ~50 ms), with an account, and the bounds
    on logins and registrations out of the way."""
    env = {k: v for k, v in web_env.items() if k != "SHOAL_PASSWORD_HASH_FAST"}
    env |= {
        "SHOAL_LOGIN_MAX_FAILURES": "1000",
        "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
        "SHOAL_REGISTRATIONS_PER_ADDRESS": "1000",
    }
    app = create_app(WebSettings.from_env(env))
    svc = app.extensions[EXTENSION]
    with svc.transaction() as conn:
        accounts.create_user(
            conn, svc.passwords, email="real@example.org", password=PASSWORD, roles=["ANALYST"]
        )
    try:
        yield app
    finally:
        close_app(app)


def _fastest_each(*calls: Callable[[], None], rounds: int = 9) -> list[float]:
    """Each call's fastest run, the calls taken in turn: the fastest run is the one
    least disturbed by whatever else the machine does, and taking them in turn gives
    them all the same disturbances."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            started = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - started)
    return [min(t) for t in times]


def test_unknown_email_costs_about_as_much_as_a_wrong_password(real_hashing_app: Flask) -> None:
    client = real_hashing_app.test_client()
    _attempt(client, "warm@example.org", "x", "10.0.0.1")  # first request pays for imports

    def fail(email: str) -> Callable[[], None]:
        def call() -> None:
            assert _attempt(client, email, "not the password", "10.9.9.9").status_code == 401

        return call

    known, unknown = _fastest_each(fail("real@example.org"), fail("nobody@example.org"))
    # Both verify a full argon2 hash: tens of milliseconds, within a loose factor.
    assert known > 0.01 and unknown > 0.01, (known, unknown)
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_a_taken_email_costs_about_as_much_as_a_new_one(real_hashing_app: Flask) -> None:
    client = real_hashing_app.test_client()
    _register(client, "warm@example.org")  # the first request pays for imports
    fresh = (f"new{n}@example.org" for n in itertools.count())

    def register(emails: Iterator[str]) -> Callable[[], None]:
        def call() -> None:
            assert _register(client, next(emails)).status_code == 200

        return call

    new, taken = _fastest_each(register(fresh), register(itertools.repeat("real@example.org")))
    # Both hash the password: tens of milliseconds, within a loose factor.
    assert new > 0.01 and taken > 0.01, (new, taken)
    assert 0.5 < taken / new < 2.0, (new, taken)
