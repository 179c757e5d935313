"""The request core under every helper: credentials, retries, errors.

A request is retried on connection errors, timeouts and 5xx answers, with
exponential backoff and full jitter, within the :class:`RetryPolicy`; a 4xx is
never retried. A 401 renews the credentials once and sends the request again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from shared.client.auth import Credentials, error_from
from shared.client.errors import ApiUnavailable
from shared.client.retry import RetryPolicy

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        http: httpx.Client,
        credentials: Credentials,
        retry: RetryPolicy,
        aborted: threading.Event | None = None,
    ) -> None:
        """Once ``aborted`` is set, a failed request is not tried again."""
        self.http = http
        self.credentials = credentials
        self.retry = retry
        self.aborted = aborted

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A 2xx response; raises ApiError for any other answer, ApiUnavailable if none came.

        With ``stream`` the caller must close the response.
        """

        def send(credentials: dict[str, str]) -> httpx.Response:
            request = self.http.build_request(
                method,
                path,
                json=json,
                params=_clean(params),
                headers={**(headers or {}), **credentials},
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
            return self._with_retry(request, stream)

        credentials = self.credentials.headers(self._post_unauthenticated)
        response = send(credentials)
        if response.status_code == 401 and self.credentials.renew(
            self._post_unauthenticated, credentials
        ):
            response.close()
            response = send(self.credentials.headers(self._post_unauthenticated))
        if response.is_error:
            response.read()
            response.close()
            raise error_from(response)
        return response

    def _post_unauthenticated(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._with_retry(self.http.build_request("POST", path, json=body), False)

    def _with_retry(self, request: httpx.Request, stream: bool) -> httpx.Response:
        """Send until an answer below 500 comes, or the policy gives up.

        429 (a login held back after failures, say) is retried too, after its
        ``Retry-After``: many workers sharing one account and one address may log in
        at the same moment.
        """
        deadline = time.monotonic() + self.retry.total_seconds
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as error:
                failure = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                response.read()
                response.close()
                failure = f"HTTP {response.status_code}: {error_from(response).message}"
                retry_after = _retry_after(response)
            delay = self.retry.delay(attempt, retry_after)
            given_up = self.aborted is not None and self.aborted.is_set()
            if given_up or attempt >= self.retry.attempts or time.monotonic() + delay > deadline:
                raise ApiUnavailable(
                    f"{request.method} {request.url.path} failed after {attempt} "
                    f"attempt(s): {failure}"
                )
            log.warning(
                "request failed, retrying",
                extra={
                    "action": "api_retry",
                    "method": request.method,
                    "path": request.url.path,
                    "attempt": attempt,
                    "failure": failure,
                    "delay": round(delay, 3),
                },
            )
            time.sleep(delay)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset query parameters, so callers can pass optional ones as None."""
    if params is None:
        return None
    return {key: value for key, value in params.items() if value is not None}
