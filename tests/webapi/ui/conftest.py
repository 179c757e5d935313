"""Dashboard helpers: log in through the login form as a browser does."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.webapi.conftest import PASSWORD


def form_token(page: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


def post_login(
    client: FlaskClient, email: str, password: str = PASSWORD, **extra: str
) -> TestResponse:
    """Post the login form (with its login token, read from a fresh form)."""
    token = form_token(client.get("/login").text, "login_token")
    data = {"email": email, "password": password, "login_token": token, **extra}
    return client.post("/login", data=data)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    """Log in; the CSRF token written into the pages."""
    answer = post_login(client, email, password)
    assert answer.status_code == 303, answer.text
    return form_token(client.get("/jobs/new").text)
