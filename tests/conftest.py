"""Fixtures shared by every test: a real PostgreSQL, one fresh database per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from tests.support import database
from webapi.store.engine import make_engine

# webapi's ProcessThreads
BACKGROUND_THREADS = ("housekeeping", "job-events", "storage-cleanup", "webhooks")


@pytest.fixture(autouse=True)
def _app_threads_stop_with_the_test() -> Iterator[None]:
    """An app's background threads stop with the app: none may outlive its database."""
    yield
    left = [t.name for t in threading.enumerate() if t.name in BACKGROUND_THREADS]
    assert not left, f"still running after the test: {left} (close the app with close_app)"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[URL]:
    with database.postgres_server() as url:
        database.build_template(url)
        try:
            yield url
        finally:
            database.drop_template(url)


@pytest.fixture
def db_url(pg_server: URL) -> Iterator[URL]:
    with database.fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def db_url_str(db_url: URL) -> str:
    return db_url.render_as_string(hide_password=False)


@pytest.fixture
def engine(db_url_str: str) -> Iterator[Engine]:
    engine = make_engine(db_url_str, pool_size=20, max_overflow=20)
    try:
        yield engine
    finally:
        engine.dispose()
