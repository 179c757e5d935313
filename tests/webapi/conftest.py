"""Fixtures for the web API: an app on the per-test database, and callers of every kind.

- ``app`` / ``client``: ``create_app`` on a fresh migrated database, Flask's test client.
- ``services``: the app's ``Services`` (engine, passwords, ...), for setting up and checking rows.
- ``make_user(email=None, roles=("ANALYST",), password=PASSWORD) -> (user_id, token)``.
- ``auth_headers(token) -> {"Authorization": "Bearer ..."}``.
- ``api_key(roles=("WORKER",), owner_id=None) -> IssuedKey`` with ``.id``, ``.key``, ``.headers``.
- ``admin``: ``(user_id, token)`` of an ADMIN.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapi import accounts
from webapi.app import close_app, create_app
from webapi.auth.api_keys import create_api_key
from webapi.auth.keys import generate_jwt_key_pair
from webapi.auth.tokens import issue_access_token
from webapi.services import EXTENSION, Services
from webapi.settings import WebSettings

PASSWORD = "correct horse battery"

MakeUser = Callable[..., tuple[int, str]]


@dataclass(frozen=True)
class IssuedKey:
    id: int
    key: str
    owner_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@pytest.fixture(scope="session")
def jwt_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM), generated once per session."""
    return generate_jwt_key_pair()


@pytest.fixture
def web_env(db_url_str: str, jwt_key_pair: tuple[str, str]) -> dict[str, str]:
    """The environment the app's settings are read from; tests may change it first."""
    private, public = jwt_key_pair
    return {
        "DATABASE_URL": db_url_str,
        "SHOAL_JWT_PRIVATE_KEY": private,
        "SHOAL_JWT_PUBLIC_KEY": public,
        "SHOAL_PASSWORD_HASH_FAST": "1",
        "SHOAL_DB_POOL_SIZE": "5",
    }


@pytest.fixture
def web_settings(web_env: dict[str, str]) -> WebSettings:
    return WebSettings.from_env(web_env)


@pytest.fixture
def app(web_settings: WebSettings) -> Iterator[Flask]:
    app = create_app(web_settings)
    try:
        yield app
    finally:
        close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def services(app: Flask) -> Services:
    found: Services = app.extensions[EXTENSION]
    return found


@pytest.fixture
def make_user(app: Flask, services: Services) -> MakeUser:
    """Create a user directly in the database; returns its id and an access token."""
    numbers = itertools.count(1)

    def make(
        email: str | None = None,
        roles: Sequence[str] = ("ANALYST",),
        password: str = PASSWORD,
    ) -> tuple[int, str]:
        email = email or f"user{next(numbers)}@example.org"
        with services.transaction() as conn:
            user = accounts.create_user(
                conn, services.passwords, email=email, password=password, roles=roles
            )
            user_id, user_roles = user.id, list(user.roles)
        with app.app_context():
            return user_id, issue_access_token(user_id, email, user_roles)

    return make


@pytest.fixture
def auth_headers() -> Callable[[str], dict[str, str]]:
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def admin(make_user: MakeUser) -> tuple[int, str]:
    return make_user("admin@example.org", ("ADMIN",))


@pytest.fixture
def api_key(services: Services, make_user: MakeUser) -> Callable[..., IssuedKey]:
    """Issue an API key (owned by a fresh admin unless ``owner_id`` is given)."""
    owners: list[int] = []

    def issue(roles: Sequence[str] = ("WORKER",), owner_id: int | None = None) -> IssuedKey:
        if owner_id is None:
            if not owners:
                owners.append(make_user("key-owner@example.org", ("ADMIN",))[0])
            owner_id = owners[0]
        with services.transaction() as conn:
            row, key = create_api_key(
                conn, name="test key", roles=roles, owner_id=owner_id, actor_id=owner_id
            )
            return IssuedKey(id=row.id, key=key, owner_id=owner_id)

    return issue
