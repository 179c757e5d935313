"""Bearer tokens: only RS256 tokens we signed, unexpired and untouched, get in; else 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from webapi.auth.keys import generate_jwt_key_pair

Headers = Callable[[str], dict[str, str]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _claims(user_id: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "roles": ["ADMIN"],
        "email": "x@example.org",
        "type": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "t",
        "fresh": False,
    }
    claims.update(changes)
    return claims


def test_alg_none_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user_id, _ = make_user(roles=("ANALYST",))
    token = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims(user_id))}."
    response = client.get("/api/auth/profile", headers=auth_headers(token))
    assert response.status_code == 401
    assert response.json["message"]


def test_hs256_signed_with_the_public_key_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, jwt_key_pair: tuple[str, str]
) -> None:
    user_id, _ = make_user(roles=("ANALYST",))
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(_claims(user_id))}"
    signature = hmac.new(jwt_key_pair[1].encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"
    response = client.get("/api/auth/profile", headers=auth_headers(token))
    assert response.status_code == 401


def test_expired_token_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, jwt_key_pair: tuple[str, str]
) -> None:
    user_id, _ = make_user(roles=("ANALYST",))
    past = int(time.time()) - 7200
    claims = _claims(user_id, iat=past, nbf=past, exp=past + 60)
    token = jwt.encode(claims, jwt_key_pair[0], algorithm="RS256")
    response = client.get("/api/auth/profile", headers=auth_headers(token))
    assert response.status_code == 401
    assert "expired" in response.json["message"]


def test_token_from_another_key_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user_id, _ = make_user(roles=("ANALYST",))
    other_private, _ = generate_jwt_key_pair()
    token = jwt.encode(_claims(user_id), other_private, algorithm="RS256")
    assert client.get("/api/auth/profile", headers=auth_headers(token)).status_code == 401


def test_tampered_token_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user(roles=("ANALYST",))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["ADMIN"]
    forged = f"{header}.{_segment(claims)}.{signature}"
    assert client.get("/api/users", headers=auth_headers(forged)).status_code == 401
    assert client.get("/api/users", headers=auth_headers(token)).status_code == 403


MALFORMED = [
    "Bearer",
    "Bearer not-a-jwt",
    "Bearer a.b.c",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "Bearer " + "x" * 5000,
]


def test_malformed_authorization_is_401_not_422(client: FlaskClient) -> None:
    for authorization in MALFORMED:
        response = client.get("/api/polygons", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
        assert set(response.json) == {"message"}


def test_token_of_a_deleted_user_is_refused(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, admin: tuple[int, str]
) -> None:
    user_id, token = make_user(roles=("ANALYST",))
    assert client.get("/api/polygons", headers=auth_headers(token)).status_code == 200
    assert client.delete(f"/api/users/{user_id}", headers=auth_headers(admin[1])).status_code == 204
    assert client.get("/api/polygons", headers=auth_headers(token)).status_code == 401


def test_role_changes_apply_to_live_tokens(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, admin: tuple[int, str]
) -> None:
    user_id, token = make_user(roles=("ANALYST",))
    assert client.get("/api/polygons", headers=auth_headers(token)).status_code == 200
    changed = client.put(
        f"/api/users/{user_id}/roles", json={"roles": ["WORKER"]}, headers=auth_headers(admin[1])
    )
    assert changed.status_code == 200
    assert client.get("/api/polygons", headers=auth_headers(token)).status_code == 403
