"""Engines for the web API's database: URL normalisation and pool settings, and the
probe that tells /api/health whether the job tables can be written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from webapi.store.prepared import text
from webapi.store.sql import database as sql


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pin the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ping_idle_seconds: float = 1.0,
    statement_timeout_ms: int = 0,
    lock_timeout_ms: int = 0,
    price_region: str | None = None,
) -> Engine:
    """An engine that survives database restarts without a restart of its own.

    A connection idle for more than ``ping_idle_seconds`` is checked (``SELECT 1``)
    before use and replaced if the server has gone away. A busy connection is not:
    pinging before every transaction would add a round trip to each one. If the
    server restarts under load, the first statement on a stale connection fails as
    a disconnect, which invalidates the whole pool (that request answers 503), and
    every later checkout reconnects.

    Every statement on its connections gives up after ``statement_timeout_ms``, and
    after waiting ``lock_timeout_ms`` for a lock (0: never; the commands, migrations
    among them, run so), so a locked table fails requests instead of hanging them.

    The prepared statements (the claims, heartbeat and results) always run their
    generic plan, whose shape the plan tests pin. Left to choose, the server compares
    a new generic plan with the custom plans it made before, under other statistics:
    once one user's million jobs replaced a thousand users' queue, it planned every
    fair claim afresh (about 1.5 ms each, a third of that claim's throughput).
    """
    options = (
        f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={lock_timeout_ms}"
        " -c plan_cache_mode=force_generic_plan"
    )
    if price_region is not None:  # whose prices the usage statements apply (sql/usage.py)
        options += f" -c shoal.price_region={price_region}"
    given = make_url(normalize_url(url)).query.get("options")  # the URL's own come first
    if isinstance(given, str):
        options = f"{given} {options}"
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "shoal", "options": options},
    )
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


class Autocommit:
    """Connections of ``engine`` on which each statement commits on its own: one round trip.

    Not SQLAlchemy's ``isolation_level="AUTOCOMMIT"``: it resets the connection's isolation
    level on the way back to the pool, and psycopg2 sends that to the server
    (``SET default_transaction_isolation TO DEFAULT``), a second round trip for every
    claim, result and heartbeat. psycopg2's own ``autocommit`` switch, on a connection
    whose isolation level nobody set, changes only what the client sends next (no
    ``BEGIN``); it is switched back before the connection returns to the pool.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            dbapi_connection: Any = conn.connection.dbapi_connection
            dbapi_connection.autocommit = True
            try:
                yield conn
            finally:
                if not dbapi_connection.closed:  # a lost one is discarded anyway
                    dbapi_connection.autocommit = False


def probe_job_tables(conn: Connection, lock_ms: int) -> None:
    """Take the job tables' write lock, waiting at most ``lock_ms``, and let it go (the
    transaction is rolled back); raises the database's lock timeout when it does not come."""
    try:
        conn.execute(text(sql.LOCK_TIMEOUT_HERE), {"ms": f"{lock_ms}ms"})
        conn.execute(text(sql.LOCK_JOB_TABLES))
    finally:
        conn.rollback()


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def remember(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(sql.PING)
            # The ping began a transaction: end it, so the connection comes out of the pool
            # as it went in (Autocommit cannot switch a connection inside a transaction).
            dbapi_connection.rollback()
        except engine.dialect.loaded_dbapi.Error as error:
            # Tells the pool to discard this connection and retry the checkout.
            raise DisconnectionError(str(error)) from error
