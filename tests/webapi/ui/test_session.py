"""The dashboard's browser session: cookie login, CSRF, logout, expiry, and the REST API
left exactly as it was (bearer tokens and API keys only)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token, decode_token

from tests.webapi.conftest import PASSWORD, MakeUser
from tests.webapi.ui.conftest import login, post_login
from webapi.ui.session import COOKIE, SUBJECT_PREFIX


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def test_unauthenticated_root_is_the_login_page(client: FlaskClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/login")
    login = client.get(answer.headers["Location"])
    assert login.status_code == 200
    assert 'name="password"' in login.get_data(as_text=True)


def test_login_sets_an_httponly_samesite_cookie(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    answer = post_login(client, "ana@example.org")
    header = next(h for h in answer.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    # No script-readable CSRF cookie: the token is written into each page instead.
    assert not [h for h in answer.headers.getlist("Set-Cookie") if h.startswith("csrf")]


def test_bad_password_is_shown_as_the_apis_message(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    answer = post_login(client, "ana@example.org", "wrong")
    assert answer.status_code == 401
    assert "Invalid credentials" in answer.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    refused = client.post("/jobs/new", data={"type": "TEST", "input.id": "1"})
    assert refused.status_code == 403
    assert "CSRF" in refused.get_data(as_text=True)
    wrong = client.post("/jobs/new", data={"type": "TEST", "input.id": "1", "csrf_token": "x"})
    assert wrong.status_code == 403
    accepted = client.post("/jobs/new", data={"type": "TEST", "input.id": "1", "csrf_token": csrf})
    assert accepted.status_code == 303


def test_logout_revokes_the_session(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    stolen = _session_cookie(client)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 303
    # The old cookie, replayed, is dead too: the server-side session was revoked.
    client.set_cookie(COOKIE, stolen)
    assert client.get("/").headers["Location"].startswith("/login")


def test_an_expired_session_goes_back_to_login(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    login(client, "ana@example.org")
    subject = _subject(app, _session_cookie(client))
    with app.app_context():
        expired = create_access_token(identity=subject, expires_delta=timedelta(seconds=-5))
    client.set_cookie(COOKIE, expired)
    answer = client.get("/jobs/new")
    assert answer.status_code == 303
    assert "expired=1" in answer.headers["Location"]
    htmx = client.get("/jobs/new", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/login")


def _subject(app: Flask, token: str) -> str:
    with app.app_context():
        subject = str(decode_token(token)["sub"])
    assert subject.startswith(SUBJECT_PREFIX)
    return subject


def test_the_rest_api_ignores_the_cookie_and_refuses_its_token(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    login(client, "ana@example.org")
    cookie_token = _session_cookie(client)
    # The browser's cookie alone does not authenticate a REST call ...
    assert client.get("/api/auth/profile").status_code == 401
    # ... and the cookie's token is no bearer token.
    client.delete_cookie(COOKIE)
    answer = client.get("/api/auth/profile", headers={"Authorization": f"Bearer {cookie_token}"})
    assert answer.status_code == 401


def test_a_page_needing_a_role_says_which(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    login(client, "ana@example.org")
    answer = client.get("/admin/fleet")
    assert answer.status_code == 403
    assert "needs the ADMIN role" in answer.get_data(as_text=True)


def test_next_never_leaves_the_site(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    answer = post_login(client, "ana@example.org", next="//evil.example/x")
    assert answer.headers["Location"] == "/"


def test_a_login_form_from_elsewhere_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    data = {"email": "ana@example.org", "password": PASSWORD}
    forged = client.post("/login", data={**data, "login_token": "guessed"})
    assert forged.status_code == 403
    assert client.get_cookie(COOKIE) is None
    client.get("/login")  # the cookie is set, but the form's token is still needed
    assert client.post("/login", data=data).status_code == 403


def test_pages_forbid_foreign_scripts_and_framing(client: FlaskClient) -> None:
    page = client.get("/login")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    # The REST API's answers load nothing at all (tests/security/test_headers.py).
    assert client.get("/api/health").headers["Content-Security-Policy"].endswith("sandbox")
