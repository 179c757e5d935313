"""Security headers on every response: API answers, errors, signed file links, the API
docs and the dashboard; HSTS once the deployment says it is HTTPS only; and a client's
X-Forwarded-Host never decides where the links we hand out point."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse

from tests.security.conftest import Cast, finish, submit
from webapi.app import close_app, create_app
from webapi.settings import WebSettings


def _signed_link(client: FlaskClient, cast: Cast, **headers: str) -> str:
    submit(client, cast.analyst)
    job_id = finish(client, cast.worker, {"result.json": '{"ok": true}'})
    answer = client.get(f"/api/jobs/{job_id}/download", headers={**cast.analyst.headers, **headers})
    assert answer.status_code == 200, answer.json
    link: str = answer.json["files"]["result.json"]
    return link


def _headers(answer: TestResponse) -> Headers:
    answer.close()  # a file's answer holds the file open
    return answer.headers


def test_every_kind_of_response_carries_the_headers(client: FlaskClient, cast: Cast) -> None:
    link = urlsplit(_signed_link(client, cast))
    file = client.get(f"{link.path}?{link.query}")
    assert file.status_code == 200
    answers = {
        "health": client.get("/api/health"),
        "an error": client.get("/api/jobs/1"),  # no credentials: 401
        "no such route": client.get("/api/nope"),
        "the document": client.get("/api/openapi.json"),
        "a signed file": file,
        "a refused file": client.get(f"{link.path}?expires=1&signature=x"),
        "docs": client.get("/api/docs"),
        "docs script": client.get("/api/docs/init.js"),
        "docs styles": client.get("/api/docs/static/swagger-ui.css"),
        "a page": client.get("/login"),
        "a page's script": client.get("/ui/static/app.js"),
    }
    sent = {name: _headers(answer) for name, answer in answers.items()}
    for name, headers in sent.items():
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), name
        assert "Strict-Transport-Security" not in headers, name  # plain HTTP by default
    # Data (a file a browser might open, JSON) may load and run nothing, sandboxed.
    for name in ("health", "an error", "no such route", "a signed file", "a refused file"):
        policy = sent[name]["Content-Security-Policy"]
        assert policy.startswith("default-src 'none'") and "sandbox" in policy, name
    # Pages and docs run only this origin's scripts and styles.
    for name in ("docs", "a page"):
        policy = sent[name]["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, name
    assert sent["a page"]["Cache-Control"] == "no-store"


@pytest.fixture
def https_app(web_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(WebSettings.from_env({**web_env, "SHOAL_UI_SECURE_COOKIES": "true"}))
    try:
        yield app
    finally:
        close_app(app)


def test_an_https_deployment_sends_hsts_everywhere(https_app: Flask) -> None:
    client = https_app.test_client()
    for path in ("/api/health", "/api/nope", "/api/docs", "/login"):
        answer = client.get(path)
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000", path
    page = client.get("/login")
    assert all("Secure" in cookie for cookie in page.headers.getlist("Set-Cookie"))


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    # Behind one proxy and without SHOAL_PUBLIC_URL: links come from the request.
    return {**web_env, "SHOAL_TRUSTED_PROXIES": "1"}


def test_x_forwarded_host_does_not_move_the_links(client: FlaskClient, cast: Cast) -> None:
    forwarded = _signed_link(
        client, cast, **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    )
    # The proxy's scheme is trusted; the host is the one the request was sent to.
    assert forwarded.startswith("https://localhost/api/storage/local/"), forwarded
