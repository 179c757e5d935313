from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.shared.client.scripted_server import ScriptedServer, serve


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server (for the ECS metadata endpoint, not for shoal's API)."""
    with serve() as scripted:
        yield scripted
