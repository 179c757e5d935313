"""How the client proves who it is: an API key, or a login with email and password.

The login flow is ReefGuide's: ``POST /api/auth/login`` gives an access token and a
refresh token; when the API answers 401 the client refreshes (``POST
/api/auth/token``) and, if that is refused too, logs in again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from shared.client.errors import ApiError

Post = Callable[[str, dict[str, Any]], httpx.Response]


class Credentials(Protocol):
    def headers(self, post: Post) -> dict[str, str]:
        """The headers to send (logging in first if need be)."""

    def renew(self, post: Post, stale: dict[str, str]) -> bool:
        """After a 401 to ``stale`` headers: get fresh ones; False when that cannot help."""


class NoCredentials:
    def headers(self, post: Post) -> dict[str, str]:
        return {}

    def renew(self, post: Post, stale: dict[str, str]) -> bool:
        return False


class ApiKeyCredentials:
    def __init__(self, api_key: str) -> None:
        self._headers = {"X-API-Key": api_key}

    def headers(self, post: Post) -> dict[str, str]:
        return dict(self._headers)

    def renew(self, post: Post, stale: dict[str, str]) -> bool:
        return False


class PasswordCredentials:
    """Bearer tokens from a login; shared by threads, so every change holds the lock."""

    def __init__(self, email: str, password: str) -> None:
        self._email = email
        self._password = password
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._lock = threading.Lock()

    def headers(self, post: Post) -> dict[str, str]:
        with self._lock:
            if self._token is None:
                self._login(post)
            return {"Authorization": f"Bearer {self._token}"}

    def renew(self, post: Post, stale: dict[str, str]) -> bool:
        with self._lock:
            if stale.get("Authorization") != f"Bearer {self._token}":
                return True  # another thread renewed it meanwhile
            if self._refresh_token is not None:
                response = post("/api/auth/token", {"refreshToken": self._refresh_token})
                if response.status_code == 200:
                    self._token = _field(response, "token")
                    return True
            self._login(post)
            return True

    def _login(self, post: Post) -> None:
        response = post("/api/auth/login", {"email": self._email, "password": self._password})
        if response.status_code != 200:
            raise error_from(response)
        self._token = _field(response, "token")
        self._refresh_token = response.json().get("refreshToken")


def _field(response: httpx.Response, name: str) -> str:
    value = response.json().get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(response.status_code, f"The API's answer has no {name}")
    return value


def error_from(response: httpx.Response) -> ApiError:
    """An ApiError from an error response's ``{"message", "errors"}`` body (or its text)."""
    message, errors = None, None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            message = body["message"]
        if isinstance(body.get("errors"), dict):
            errors = {str(k): _strings(v) for k, v in body["errors"].items()}
    if message is None:
        text = response.text.strip()[:200]
        message = text or response.reason_phrase or f"HTTP {response.status_code}"
    return ApiError(response.status_code, message, errors)


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
