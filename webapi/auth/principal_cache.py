"""Who API keys and users are, kept per process so a request needs no query to authenticate.

Two tables: API key hash → :class:`KeyEntry`, user id → :class:`UserEntry`. A change
that narrows access (a key revoked, a user's roles set, a user deleted) calls
:func:`announce` in its transaction: a NOTIFY on ``AUTH_CHANNEL`` that every API
process's event listener turns into :meth:`PrincipalCache.forget`, and, in the process
that made the change, the same at its commit, without waiting for the listener.

The cache is only read while the listener is connected, and emptied whenever it loses
or makes its connection (notifications sent meanwhile are lost); an entry also ends
after ``ttl_seconds``, should a listener miss a notification while it thinks it is
connected. A load that raced a change is not kept: every forget moves a generation
counter, and an entry is stored only if no forget happened since its load began.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

from webapi.store import auth as store

AUTH_CHANNEL = "shoal_auth_events"
# Changes announced in a connection's open transaction, then those it committed, which
# are applied once the connection is back in the pool (after its commit).
_PENDING = "shoal_auth_changes"
_COMMITTED = "shoal_auth_committed"
# Keys and users in use are few; past this the table starts over rather than grow.
MAX_ENTRIES = 10_000

Kind = Literal["key", "user"]
V = TypeVar("V")
K = TypeVar("K")


@dataclass(frozen=True)
class KeyEntry:
    key_id: int
    user_id: int
    roles: frozenset[str]


@dataclass(frozen=True)
class UserEntry:
    user_id: int
    email: str
    roles: frozenset[str]


def announce(conn: Connection, kind: Kind, ident: int) -> None:
    """Make every API process forget key or user ``ident`` when this transaction commits."""
    store.announce(conn, AUTH_CHANNEL, f"{kind}:{ident}")
    conn.info.setdefault(_PENDING, []).append((kind, ident))


class PrincipalCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._keys: dict[str, tuple[KeyEntry, float]] = {}
        self._users: dict[int, tuple[UserEntry, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._listening: Callable[[], bool] = lambda: False

    def follow(self, listening: Callable[[], bool], engine: Engine) -> None:
        """Use the cache while ``listening()``; apply this process's own changes at commit.

        They are applied when the connection goes back to the pool, after the commit:
        a load that began before then read the old rows and is not kept.
        """
        self._listening = listening
        event.listen(engine, "commit", _commit)
        event.listen(engine, "rollback", _rolled_back)
        event.listen(engine, "checkin", self._committed)

    def key(self, key_hash: str, load: Callable[[], KeyEntry | None]) -> KeyEntry | None:
        return self._get(self._keys, key_hash, load)

    def user(self, user_id: int, load: Callable[[], UserEntry | None]) -> UserEntry | None:
        return self._get(self._users, user_id, load)

    def on_notify(self, payload: str | None) -> None:
        """The listener's handler: a ``kind:id`` payload, or None to forget everything."""
        kind, _, ident = (payload or "").partition(":")
        if kind in ("key", "user") and ident.isdigit():
            self.forget(kind, int(ident))  # type: ignore[arg-type]
        else:
            self.clear()

    def forget(self, kind: Kind, ident: int) -> None:
        """Drop a key (by id), or a user and every key of theirs."""
        with self._lock:
            self._generation += 1
            if kind == "user":
                self._users.pop(ident, None)
            for hashed, (entry, _) in list(self._keys.items()):
                if ident == (entry.key_id if kind == "key" else entry.user_id):
                    del self._keys[hashed]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._keys.clear()
            self._users.clear()

    def _get(
        self, table: dict[K, tuple[V, float]], ident: K, load: Callable[[], V | None]
    ) -> V | None:
        if self.ttl_seconds <= 0 or not self._listening():
            return load()
        found = table.get(ident)
        now = time.monotonic()
        if found is not None and found[1] > now:
            return found[0]
        generation = self._generation
        value = load()
        if value is None:
            return None
        with self._lock:
            if generation == self._generation and self._listening():
                if len(table) >= MAX_ENTRIES:
                    table.clear()
                table[ident] = (value, now + self.ttl_seconds)
        return value

    def _committed(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        for kind, ident in record.info.pop(_COMMITTED, ()):
            self.forget(kind, ident)


def _commit(conn: Connection) -> None:
    changes = conn.info.pop(_PENDING, ())
    conn.info.setdefault(_COMMITTED, []).extend(changes)


def _rolled_back(conn: Connection) -> None:
    # A lost connection has no info to read; its pool entry starts over empty.
    if not conn.invalidated:
        conn.info.pop(_PENDING, None)
