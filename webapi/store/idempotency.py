"""Idempotency keys of submissions: a client that retries with the same key gets the
first answer, and nothing is created twice.

A key belongs to a user and lasts a day. It is taken in the submission's own
transaction, before anything else, so a retry that arrives while the first attempt
is still running waits for it, and a submission that fails (a bad input, 429, a
timeout) leaves no key behind. The same key for a different request (another route,
type, input or priority) is refused with 409.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from shared.errors import Conflict
from webapi.store.prepared import text

# A new key, or one older than a day (taken over), is written, and the submission's
# request or batch is recorded on it before the commit. A live key belongs to an
# earlier submission: this waits for that one's transaction (the primary key) and
# returns nothing, leaving the key locked, and the earlier answer is read instead.
TAKE_KEY = """
INSERT INTO idempotency_keys AS k (user_id, key, fingerprint)
VALUES (:user_id, :key, :fingerprint)
ON CONFLICT (user_id, key) DO UPDATE
  SET fingerprint = excluded.fingerprint, request_id = NULL, batch_id = NULL, created_at = now()
  WHERE k.created_at < now() - interval '1 day'
RETURNING k.key
"""

USED_KEY = """
SELECT fingerprint, request_id, batch_id FROM idempotency_keys
WHERE user_id = :user_id AND key = :key
"""

KEY_ANSWERED = """
UPDATE idempotency_keys SET request_id = :request_id, batch_id = :batch_id
WHERE user_id = :user_id AND key = :key
"""

# Keys older than a day answer nothing any more; housekeeping deletes them in batches.
FORGET_KEYS = """
DELETE FROM idempotency_keys WHERE (user_id, key) IN (
  SELECT user_id, key FROM idempotency_keys
  WHERE created_at < now() - interval '1 day' LIMIT :batch
)
"""


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
    taken = conn.execute(text(TAKE_KEY), {**params, "fingerprint": key.fingerprint})
    if taken.first() is not None:
        return None
    used = conn.execute(text(USED_KEY), params).one()
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
        text(KEY_ANSWERED),
        {"user_id": user_id, "key": key.key, "request_id": request_id, "batch_id": batch_id},
    )


def forget_expired(conn: Connection, batch: int) -> int:
    """Delete up to ``batch`` keys older than a day; how many."""
    return conn.execute(text(FORGET_KEYS), {"batch": batch}).rowcount
