"""The login form's token: issued by the server, taken once, expiring, and refused from
another site even when a sibling subdomain planted the cookie that goes with it."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.conftest import PASSWORD, MakeUser
from tests.webapi.ui.conftest import form_token
from webapi.services import EXTENSION
from webapi.ui import login_token
from webapi.ui.pages import LOGIN_COOKIE
from webapi.ui.session import COOKIE

OUT_OF_DATE = "The login form was out of date"


def _post(client: FlaskClient, token: str, **headers: str):
    data = {"email": "ana@example.org", "password": PASSWORD, "login_token": token}
    return client.post("/login", data=data, headers=headers)


def _plant(client: FlaskClient, token: str) -> None:
    """What a sibling subdomain can do: set the login cookie to a value of its choosing."""
    client.set_cookie(LOGIN_COOKIE, token, path="/login")


def test_a_planted_cookie_with_a_token_we_never_issued_is_refused(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    for forged in ("chosen-by-the-attacker", "a.9999999999.b", ""):
        _plant(client, forged)
        answer = _post(client, forged)
        assert answer.status_code == 403 and OUT_OF_DATE in answer.text, forged
    assert client.get_cookie(COOKIE) is None


def test_a_token_is_taken_once(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    token = form_token(client.get("/login").text, "login_token")
    wrong = client.post(
        "/login", data={"email": "ana@example.org", "password": "wrong!", "login_token": token}
    )
    assert wrong.status_code == 401  # the form was good; the password was not
    _plant(client, token)  # the answer set a fresh cookie: put the spent one back
    replayed = _post(client, token)
    assert replayed.status_code == 403 and OUT_OF_DATE in replayed.text
    assert client.get_cookie(COOKIE) is None
    # The page that refused it carries a fresh one, which works.
    fresh = form_token(replayed.text, "login_token")
    assert fresh != token
    assert _post(client, fresh).status_code == 303
    assert client.get_cookie(COOKIE) is not None


def test_an_expired_token_is_refused(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    key = login_token.signing_key(app.extensions[EXTENSION].settings.jwt_private_key)
    stale = login_token.issue(key, time.time() - login_token.LIFETIME_SECONDS - 1)
    _plant(client, stale)
    assert _post(client, stale).status_code == 403
    # The same key's tokens are good while they last: it was only the age.
    current = login_token.issue(key, time.time())
    _plant(client, current)
    assert _post(client, current).status_code == 303


def test_a_form_posted_from_another_site_is_refused(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    # A sibling subdomain: a real token from its own visit, and the cookie planted.
    for headers in (
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example.org"},  # a browser that sends no Sec-Fetch-Site
        {"Origin": "null"},
    ):
        token = form_token(client.get("/login").text, "login_token")
        answer = _post(client, token, **headers)
        assert answer.status_code == 403 and OUT_OF_DATE in answer.text, headers
    assert client.get_cookie(COOKIE) is None
    # This site's own form, as browsers describe it.
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://localhost"}):
        client.delete_cookie(COOKIE)
        token = form_token(client.get("/login").text, "login_token")
        assert _post(client, token, **headers).status_code == 303, headers
