"""Every error is JSON ``{"message", "errors"?}``: 400, 404, 405, 413, 415, 500."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from webapi.app import close_app, create_app
from webapi.settings import WebSettings

Headers = Callable[[str], dict[str, str]]


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.is_json and response.json == {"message": "Not found."}


def test_wrong_method_is_json_405(client: FlaskClient) -> None:
    response = client.delete("/api/auth/login")
    assert response.status_code == 405
    assert response.is_json and "message" in response.json
    assert "POST" in response.headers["Allow"]


def test_non_json_body_is_415(client: FlaskClient) -> None:
    response = client.post(
        "/api/auth/login",
        data="email=a@example.org&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.is_json and "JSON" in response.json["message"]


def test_invalid_json_is_400(client: FlaskClient) -> None:
    response = client.post("/api/auth/login", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.is_json and response.json["message"]


def test_validation_is_400_with_field_errors(client: FlaskClient) -> None:
    response = client.post("/api/auth/register", json={"email": 5, "extra": True})
    assert response.status_code == 400
    errors = response.json["errors"]
    assert set(errors) == {"email", "password", "extra"}
    assert all(isinstance(reasons, list) and reasons for reasons in errors.values())
    assert response.json["message"].startswith("Invalid request")


def test_body_that_is_not_an_object_is_400(client: FlaskClient) -> None:
    response = client.post("/api/auth/login", json=["a", "b"])
    assert response.status_code == 400
    assert "body" in response.json["errors"]


def test_oversized_body_is_413(web_env: dict[str, str]) -> None:
    settings = WebSettings.from_env({**web_env, "SHOAL_MAX_BODY_BYTES": "2048"})
    app = create_app(settings)
    try:
        client = app.test_client()
        response = client.post(
            "/api/auth/login", json={"email": "a@example.org", "password": "x" * 4096}
        )
        assert response.status_code == 413
        assert response.is_json and response.json["message"]
        small = client.post("/api/auth/login", json={"email": "a@example.org", "password": "x"})
        assert small.status_code == 401
    finally:
        close_app(app)


@pytest.fixture
def failing_app(web_settings: WebSettings) -> Iterator[Flask]:
    app = create_app(web_settings)

    def boom() -> None:
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/api/boom", "boom", boom)
    try:
        yield app
    finally:
        close_app(app)


def test_unexpected_error_is_500_without_a_trace(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="webapi.errors"):
        response = failing_app.test_client().get("/api/boom")
    assert response.status_code == 500
    assert response.json == {"message": "Internal server error"}
    assert b"secret internal detail" not in response.data
    assert b"Traceback" not in response.data
    [record] = [r for r in caplog.records if r.name == "webapi.errors"]
    assert record.exc_info is not None and "secret internal detail" in str(record.exc_info[1])


def test_wrong_role_is_403_json(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user(roles=("ANALYST",))
    response = client.get("/api/users", headers=auth_headers(token))
    assert response.status_code == 403
    assert response.is_json and "ADMIN" in response.json["message"]
