"""Forged, expired and misused bearer tokens are a 401 on every kind of guarded route.

tests/webapi/test_tokens.py tries each forgery on one route; here every forgery
meets every guard (user, worker, admin, manager routes) and a few misuses more:
a refresh token as a bearer, a token typed ``refresh``, one not valid yet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from tests.security.conftest import CLAIM, Cast
from tests.webapi.conftest import PASSWORD
from webapi.auth.keys import generate_jwt_key_pair

GUARDED = [
    ("GET", "/api/auth/profile", None),
    ("GET", "/api/jobs", None),
    ("POST", "/api/jobs", {"type": "TEST", "inputPayload": {"id": 1}}),
    ("POST", "/api/jobs/claim", CLAIM),
    ("GET", "/api/jobs/queue", None),
    ("GET", "/api/users", None),
    ("POST", "/api/admin/scale", {"desiredCount": 1}),
    ("GET", "/api/manager/config", None),
    ("GET", "/api/polygons", None),
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user_id: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": str(user_id),
        "id": str(user_id),
        "roles": ["ADMIN", "WORKER"],
        "email": "x@example.org",
        "type": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged",
        "fresh": False,
    }
    return base | changes


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def forged_tokens(user_id: int, keys: tuple[str, str], refresh_token: str) -> dict[str, str]:
    private, public = keys
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims(user_id))
    hs256 = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    now = int(time.time())
    return {
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, _claims(user_id)) + ".",
        "HS256 with the public key": f"{signing_input}.{_b64(hs256)}",
        "another key": jwt.encode(_claims(user_id), generate_jwt_key_pair()[0], "RS256"),
        "expired": jwt.encode(_claims(user_id, exp=now - 60, iat=now - 120), private, "RS256"),
        "not valid yet": jwt.encode(_claims(user_id, nbf=now + 3600), private, "RS256"),
        "typed refresh": jwt.encode(_claims(user_id, type="refresh"), private, "RS256"),
        "unknown user": jwt.encode(_claims(987654), private, "RS256"),
        "sub not a number": jwt.encode(_claims(user_id, sub="admin"), private, "RS256"),
        "refresh token as bearer": refresh_token,
        "garbage": "x.y.z",
        "empty": "",
    }


@pytest.fixture
def refresh_token(client: FlaskClient, cast: Cast) -> str:
    response = client.post(
        "/api/auth/login", json={"email": "analyst@example.org", "password": PASSWORD}
    )
    return str(response.json["refreshToken"])


def test_every_forgery_is_401_on_every_guard(
    client: FlaskClient, cast: Cast, jwt_key_pair: tuple[str, str], refresh_token: str
) -> None:
    tokens = forged_tokens(cast.analyst.user_id, jwt_key_pair, refresh_token)
    for name, token in tokens.items():
        for method, url, body in GUARDED:
            response = client.open(
                url,
                method=method,
                json=body,
                headers={"Authorization": f"Bearer {token}".strip()},
            )
            assert response.status_code == 401, (name, method, url, response.status_code)
            assert set(response.json) == {"message"}, (name, url)
    # Nothing was created on the way.
    assert client.get("/api/jobs", headers=cast.admin.headers).json["total"] == 0


def test_a_real_token_of_the_same_user_still_works(
    client: FlaskClient, cast: Cast, jwt_key_pair: tuple[str, str]
) -> None:
    """The forgeries above fail for what they change, not because of the claims' shape."""
    token = jwt.encode(_claims(cast.admin.user_id), jwt_key_pair[0], "RS256")
    for method, url, body in GUARDED:
        response = client.open(
            url, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (200, 204), (url, response.status_code)
