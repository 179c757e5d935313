"""Idempotency keys of submissions: a client that retries with the same key gets the
first answer, and nothing is created twice.

A key belongs to a user and lasts a day. It is taken in the submission's own
transaction, before anything else, so a retry that arrives while the first attempt
is still running waits for it, and a submission that fails (a bad input, 429, a
timeout) leaves no key behind. The same key for a different request (another route,
type, input or priority) is refused with 409. The statements are in
``sql/idempotency.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from shared.errors import Conflict
from webapi.store.prepared import text
from webapi.store.sql import idempotency as sql


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one submission, and the fingerprint of what it asked for."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str | None, *asked: Any) -> IdempotencyKey | None:
        """The key (None without one) of a submission that asked for ``asked`` (JSON)."""
        if key is None:
            return None
        canonical = json.dumps(asked, separators=(",", ":"), sort_keys=True)
        return cls(key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Earlier:
    """What the earlier submission with the same key created: a request or a batch."""

    request_id: int | None
    batch_id: int | None


def take(conn: Connection, user_id: int, key: IdempotencyKey) -> Earlier | None:
    """Take ``key`` for this transaction's submission: None when it is new (record the
    answer with ``answered``), else what the earlier submission with it created."""
    params = {"user_id": user_id, "key": key.key}
    taken = conn.execute(text(sql.TAKE_KEY), {**params, "fingerprint": key.fingerprint})
    if taken.first() is not None:
        return None
    used = conn.execute(text(sql.USED_KEY), params).one()
    if used.fingerprint != key.fingerprint:
        raise Conflict(
            f"Idempotency-Key {key.key!r} was used for a different request in the last day;"
            " a new request needs a new key",
            errors={"Idempotency-Key": ["Used for a different request."]},
        )
    return Earlier(used.request_id, used.batch_id)


def answered(
    conn: Connection,
    user_id: int,
    key: IdempotencyKey,
    *,
    request_id: int | None = None,
    batch_id: int | None = None,
) -> None:
    """Record what the submission that took ``key`` created."""
    conn.execute(
        text(sql.KEY_ANSWERED),
        {"user_id": user_id, "key": key.key, "request_id": request_id, "batch_id": batch_id},
    )


def forget_expired(conn: Connection, batch: int) -> int:
    """Delete up to ``batch`` keys older than a day; how many."""
    return conn.execute(text(sql.FORGET_KEYS), {"batch": batch}).rowcount
