"""Registration never tells whether an email has an account: the same status, body
and headers for a new and a taken email, after about the same time; in every mode,
and without breaking pre-approval."""

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
from webapi.auth.registration import REGISTERED
from webapi.services import EXTENSION
from webapi.settings import WebSettings

VARYING = {"date", "content-length"}  # differ between any two answers


def _register(client: FlaskClient, email: str, password: str = "a new password") -> Any:
    return client.post("/api/auth/register", json={"email": email, "password": password})


def _answer(response: Any) -> tuple[int, Any, dict[str, str]]:
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}
    return response.status_code, response.json, headers


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_REGISTRATIONS_PER_ADDRESS": "1000"}


def test_a_taken_email_is_answered_as_a_new_one(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("taken@example.org")
    new = _answer(_register(client, "new@example.org"))
    taken = _answer(_register(client, "Taken@example.org"))
    assert new[0] == 200
    assert taken == new
    # Nothing changed for the taken one: its own password still logs in, the new one not.
    logins = [
        client.post("/api/auth/login", json={"email": "taken@example.org", "password": password})
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
        with svc.session() as session:
            accounts.pre_approve(
                session, email="invited@example.org", roles=["ANALYST"], actor_id=None
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
        token = client.post(
            "/api/auth/login", json={"email": "invited@example.org", "password": "a new password"}
        ).json["token"]
        profile = client.get("/api/auth/profile", headers={"Authorization": f"Bearer {token}"})
        assert profile.json["user"]["roles"] == ["ANALYST"]
    finally:
        close_app(app)


@pytest.fixture
def real_hashing_app(web_env: dict[str, str]) -> Iterator[Flask]:
    """Production password hashing (argon2id, ~50 ms)."""
    env = {k: v for k, v in web_env.items() if k != "SHOAL_PASSWORD_HASH_FAST"}
    app = create_app(WebSettings.from_env(env))
    try:
        yield app
    finally:
        close_app(app)


def test_a_taken_email_costs_about_as_much_as_a_new_one(real_hashing_app: Flask) -> None:
    svc = real_hashing_app.extensions[EXTENSION]
    with svc.session() as session:
        accounts.create_user(
            session, svc.passwords, email="real@example.org", password=PASSWORD, roles=["ANALYST"]
        )
    client = real_hashing_app.test_client()
    _register(client, "warm@example.org")  # the first request pays for imports
    # Each kind's fastest of several, taken in turn: the least disturbed run of each.
    times: dict[str, list[float]] = {"new": [], "taken": []}
    for round_ in range(9):
        for kind, email in (("new", f"new{round_}@example.org"), ("taken", "real@example.org")):
            started = time.perf_counter()
            assert _register(client, email).status_code == 200
            times[kind].append(time.perf_counter() - started)
    new, taken = min(times["new"]), min(times["taken"])
    # Both hash a password: tens of milliseconds, within a loose factor.
    assert new > 0.01 and taken > 0.01, (new, taken)
    assert 0.5 < taken / new < 2.0, (new, taken)
