"""/api/auth: every route's success and failure answers, through the HTTP stack."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select, update

from shared.enums import AuditAction
from tests.webapi.conftest import PASSWORD, MakeUser
from webapi.auth.registration import REGISTERED
from webapi.services import Services
from webapi.store.models import RefreshToken, User, UserLog

Headers = Callable[[str], dict[str, str]]


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def test_register_login_profile(client: FlaskClient, auth_headers: Headers) -> None:
    response = client.post(
        "/api/auth/register", json={"email": "Ada@Example.org", "password": "long enough"}
    )
    assert response.status_code == 200
    assert response.json == {"message": REGISTERED}

    tokens = login(client, "ada@example.org", "long enough")
    assert set(tokens) == {"token", "refreshToken"}
    profile = client.get("/api/auth/profile", headers=auth_headers(tokens["token"]))
    assert profile.status_code == 200
    user = profile.json["user"]
    assert (user["email"], user["roles"]) == ("ada@example.org", ["DEFAULT"])


def test_register_refuses_bad_input_and_changes_no_existing_account(client: FlaskClient) -> None:
    bad_email = client.post("/api/auth/register", json={"email": "nope", "password": "long enough"})
    assert bad_email.status_code == 400
    assert "email" in bad_email.json["errors"]
    short = client.post("/api/auth/register", json={"email": "a@example.org", "password": "short"})
    assert short.status_code == 400
    assert "password" in short.json["errors"]

    first = client.post(
        "/api/auth/register", json={"email": "a@example.org", "password": "long enough"}
    )
    assert first.status_code == 200
    again = client.post(
        "/api/auth/register", json={"email": "A@example.org", "password": "other one!"}
    )
    assert (again.status_code, again.json) == (first.status_code, first.json)
    login(client, "a@example.org", "long enough")  # the account is as it was
    refused = client.post(
        "/api/auth/login", json={"email": "a@example.org", "password": "other one!"}
    )
    assert refused.status_code == 401


def test_login_failures_are_indistinguishable(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("known@example.org")
    wrong = client.post(
        "/api/auth/login", json={"email": "known@example.org", "password": "wrong pass"}
    )
    unknown = client.post(
        "/api/auth/login", json={"email": "ghost@example.org", "password": "wrong pass"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json == {"message": "Invalid credentials"}


def test_login_is_audited(client: FlaskClient, make_user: MakeUser, services: Services) -> None:
    user_id, _ = make_user("audited@example.org")
    client.post("/api/auth/login", json={"email": "audited@example.org", "password": "wrong pass"})
    login(client, "audited@example.org")
    with services.transaction() as conn:
        actions = conn.scalars(
            select(UserLog.action).where(UserLog.user_id == user_id).order_by(UserLog.id)
        ).all()
    assert actions == [AuditAction.USER_CREATED, AuditAction.LOGIN_FAILED, AuditAction.LOGIN]


def test_refresh_token_gives_new_access_token(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    make_user("r@example.org", ("ANALYST",))
    tokens = login(client, "r@example.org")
    response = client.post("/api/auth/token", json={"refreshToken": tokens["refreshToken"]})
    assert response.status_code == 200
    assert set(response.json) == {"token"}
    profile = client.get("/api/auth/profile", headers=auth_headers(response.json["token"]))
    assert profile.json["user"]["roles"] == ["ANALYST"]


def test_refresh_token_failures(
    client: FlaskClient, make_user: MakeUser, services: Services
) -> None:
    make_user("r@example.org")
    tokens = login(client, "r@example.org")
    unknown = client.post("/api/auth/token", json={"refreshToken": "made-up"})
    assert unknown.status_code == 401
    missing = client.post("/api/auth/token", json={})
    assert missing.status_code == 400
    with services.transaction() as conn:
        # already expired
        conn.execute(update(RefreshToken).values(expires_at=RefreshToken.created_at))
    expired = client.post("/api/auth/token", json={"refreshToken": tokens["refreshToken"]})
    assert expired.status_code == 401


def test_logout_revokes_the_refresh_token_at_once(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("out@example.org")
    tokens = login(client, "out@example.org")
    other = login(client, "out@example.org")
    response = client.post("/api/auth/logout", json={"refreshToken": tokens["refreshToken"]})
    assert response.status_code == 204
    assert response.data == b""
    refused = client.post("/api/auth/token", json={"refreshToken": tokens["refreshToken"]})
    assert refused.status_code == 401
    twice = client.post("/api/auth/logout", json={"refreshToken": tokens["refreshToken"]})
    assert twice.status_code == 401
    # Only that token: the other session goes on.
    still = client.post("/api/auth/token", json={"refreshToken": other["refreshToken"]})
    assert still.status_code == 200


def test_change_password_revokes_every_refresh_token(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, services: Services
) -> None:
    user_id, token = make_user("pw@example.org")
    first, second = login(client, "pw@example.org"), login(client, "pw@example.org")
    response = client.put(
        "/api/auth/change-password",
        json={"oldPassword": PASSWORD, "newPassword": "a brand new one"},
        headers=auth_headers(token),
    )
    assert response.status_code == 204
    for tokens in (first, second):
        refused = client.post("/api/auth/token", json={"refreshToken": tokens["refreshToken"]})
        assert refused.status_code == 401
    old = client.post("/api/auth/login", json={"email": "pw@example.org", "password": PASSWORD})
    assert old.status_code == 401
    login(client, "pw@example.org", "a brand new one")
    with services.transaction() as conn:
        actions = conn.scalars(select(UserLog.action).where(UserLog.user_id == user_id)).all()
        assert AuditAction.CHANGE_PASSWORD in actions


def test_change_password_failures(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, services: Services
) -> None:
    user_id, token = make_user("pw@example.org")
    with services.transaction() as conn:
        before = conn.scalar(select(User.password_hash).where(User.id == user_id))
    url = "/api/auth/change-password"
    no_auth = client.put(url, json={"oldPassword": PASSWORD, "newPassword": "a brand new one"})
    assert no_auth.status_code == 401
    wrong_old = client.put(
        url,
        json={"oldPassword": "not it at all", "newPassword": "a brand new one"},
        headers=auth_headers(token),
    )
    assert wrong_old.status_code == 401
    too_short = client.put(
        url, json={"oldPassword": PASSWORD, "newPassword": "short"}, headers=auth_headers(token)
    )
    assert too_short.status_code == 400
    assert "newPassword" in too_short.json["errors"]
    with services.transaction() as conn:
        assert conn.scalar(select(User.password_hash).where(User.id == user_id)) == before


def test_profile_needs_credentials(client: FlaskClient) -> None:
    response = client.get("/api/auth/profile")
    assert response.status_code == 401
    assert "message" in response.json


def test_worker_may_read_its_profile(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user("w@example.org", ("WORKER",))
    response = client.get("/api/auth/profile", headers=auth_headers(token))
    assert response.status_code == 200
    assert response.json["user"]["roles"] == ["WORKER"]
