"""The objects one web API process shares: settings, database engine, registry, ...

One ``Services`` is built per app by ``create_app`` and kept in
``app.extensions["shoal"]``; views reach it through ``services()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Connection, Engine

from shared.jobtypes import JobTypeRegistry, default_registry
from webapi.passwords import Passwords
from webapi.settings import WebSettings
from webapi.store.engine import make_engine

EXTENSION = "shoal"


@dataclass(frozen=True)
class Services:
    settings: WebSettings
    engine: Engine
    registry: JobTypeRegistry
    passwords: Passwords

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: WebSettings) -> Services:
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        price_region=settings.price_region,
    )
    return Services(
        settings=settings,
        engine=engine,
        registry=default_registry(),
        passwords=Passwords.create(fast=settings.password_hash_fast),
    )


def services() -> Services:
    """The current app's services."""
    found: Services = current_app.extensions[EXTENSION]
    return found
