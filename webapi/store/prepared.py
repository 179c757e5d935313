"""Statements parsed once, and the queue's hot statements prepared on the server.

``text()`` re-scans its SQL for bind parameters on every call, which on the queue's
hot path costs more than SQLAlchemy's whole cache lookup: ``text`` here caches it.

``Prepared`` goes further for the statements every job runs (claim, complete,
heartbeat): PostgreSQL parses and plans them once per connection (``PREPARE``) and
each call is an ``EXECUTE`` with the values, so the server skips the parse and
plan that otherwise take a large share of its time for the queue's big statements.
A connection remembers what it prepared (SQLAlchemy's ``connection.info`` lives as
long as the database connection, so a reconnect prepares again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Connection, CursorResult, TextClause
from sqlalchemy import text as _sa_text

_BIND = re.compile(r"(?<![:\w]):(\w+)")
_PREPARED = "shoal_prepared"


@cache
def text(statement: str) -> TextClause:
    """The (immutable, shareable) clause of a fixed statement."""
    return _sa_text(statement)


class Prepared:
    """One named statement with ``:name`` parameters, run as a server-side prepared one."""

    def __init__(self, name: str, statement: str, types: Mapping[str, str] | None = None) -> None:
        """``types`` declares parameters' SQL types; the others are inferred."""
        self.name = name
        self.params: list[str] = []
        self.body = _BIND.sub(self._position, statement)
        declared = ", ".join((types or {}).get(param, "unknown") for param in self.params)
        self._prepare = f"PREPARE {name}({declared}) AS {self.body}"
        placeholders = ", ".join(f"%({param})s" for param in self.params)
        self._execute = f"EXECUTE {name}({placeholders})" if self.params else f"EXECUTE {name}"

    def _position(self, match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in self.params:
            self.params.append(param)
        return f"${self.params.index(param) + 1}"

    def __call__(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        self._prepare_on(conn)
        return conn.exec_driver_sql(self._execute, {p: params[p] for p in self.params})

    def explain(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The plan (``EXPLAIN (FORMAT JSON)``) the server uses for these values."""
        self._prepare_on(conn)
        values = {p: params[p] for p in self.params}
        return conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {self._execute}", values).scalar_one()

    def _prepare_on(self, conn: Connection) -> None:
        prepared: set[str] = conn.info.setdefault(_PREPARED, set())
        if self.name not in prepared:
            conn.exec_driver_sql(self._prepare.replace("%", "%%"), {})
            prepared.add(self.name)
