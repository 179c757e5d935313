"""Fixtures for fuzzing: the web API's fixtures, with local result storage."""

from __future__ import annotations

import pytest

from tests.webapi.conftest import (  # noqa: F401 - fixtures, registered by import
    api_key,
    app,
    auth_headers,
    client,
    jwt_key_pair,
    make_user,
    services,
    web_settings,
)
from tests.webapi.conftest import web_env as base_web_env  # noqa: F401
from tests.webapi.jobs.conftest import live_url  # noqa: F401


@pytest.fixture
def web_env(base_web_env: dict[str, str], tmp_path) -> dict[str, str]:  # noqa: F811
    return {
        **base_web_env,
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(tmp_path / "results"),
        "SHOAL_SIGNING_SECRET": "fuzz-signing-secret",
        "SHOAL_SSE_KEEPALIVE_SECONDS": "0.5",
    }
