"""The manager's tests that need the real web API reuse the web API's fixtures.

``api_client(key)`` gives a ``ShoalClient`` whose requests go through the real
Flask app (WSGI, in this process) on the test's fresh database.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from flask import Flask

from shared.client import RetryPolicy, ShoalClient
from tests.webapi.conftest import (  # noqa: F401 - fixtures
    admin,
    api_key,
    app,
    auth_headers,
    client,
    jwt_key_pair,
    make_user,
    services,
    web_env,
    web_settings,
)

API_URL = "http://shoal.test"


@pytest.fixture
def api_client(app: Flask) -> Callable[[str], ShoalClient]:  # noqa: F811
    made: list[ShoalClient] = []

    def build(key: str) -> ShoalClient:
        transport = httpx.WSGITransport(app=app)
        found = ShoalClient(
            API_URL, api_key=key, transport=transport, retry=RetryPolicy(attempts=1)
        )
        made.append(found)
        return found

    yield build  # type: ignore[misc]
    for found in made:
        found.close()
