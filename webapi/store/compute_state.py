"""Compute state kept by the web API for the manager and the admin routes.

Two things live here, each a few named statements:

- the manager's singleton lease, one atomic upsert on the ``leases`` table: a
  holder gets or renews the lease only while it is free, expired or already its
  own, so of two managers at most one holds it at any time. A lease belongs to a
  holder *and* the credential that took it: another credential can neither renew
  nor release it, nor learn its holder's id;
- small named JSON documents in ``compute_state`` (the manager's fleet report,
  the local backend's ``desiredCount`` and redeploy ``generation``), updated under
  a row lock so concurrent admin calls never lose a change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

# Takes the lease when it is free, expired or already ours (same holder, same
# credential); returns the row either way. ``acquired_at`` moves only when the
# holder changes. When the upsert does nothing, the second branch reads the current
# holder (held = false), named only to the credential that holds it.
ACQUIRE_LEASE = """
WITH granted AS (
  INSERT INTO leases AS l (name, holder, credential, expires_at, acquired_at)
  VALUES (:name, :holder, :credential, now() + make_interval(secs => :ttl), now())
  ON CONFLICT (name) DO UPDATE
  SET holder = EXCLUDED.holder,
      credential = EXCLUDED.credential,
      expires_at = EXCLUDED.expires_at,
      acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at
                         ELSE EXCLUDED.acquired_at END
  WHERE l.expires_at < now()
     OR (l.holder = EXCLUDED.holder AND l.credential = EXCLUDED.credential)
  RETURNING l.holder, l.expires_at
)
SELECT true AS held, holder, expires_at FROM granted
UNION ALL
SELECT false AS held, CASE WHEN credential = :credential THEN holder END, expires_at
FROM leases
WHERE name = :name AND NOT EXISTS (SELECT 1 FROM granted)
"""

# Releases the lease only if this holder, through this credential, still has it.
RELEASE_LEASE = """
DELETE FROM leases WHERE name = :name AND holder = :holder AND credential = :credential
"""

# Whether ``holder`` has the lease through ``credential`` now.
HOLDS_LEASE = """
SELECT EXISTS (
  SELECT 1 FROM leases
  WHERE name = :name AND holder = :holder AND credential = :credential AND expires_at > now()
)
"""

READ_STATE = "SELECT value, updated_at FROM compute_state WHERE name = :name"

# Replaces a document, only while ``holder`` has lease ``:lease`` through ``credential``.
WRITE_STATE_AS_HOLDER = """
INSERT INTO compute_state (name, value, updated_at)
SELECT :name, CAST(:value AS jsonb), now()
WHERE EXISTS (
  SELECT 1 FROM leases
  WHERE name = :lease AND holder = :holder AND credential = :credential AND expires_at > now()
)
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
RETURNING updated_at
"""

# The row must exist before it can be locked; a concurrent first insert is harmless.
ENSURE_STATE = """
INSERT INTO compute_state (name, value) VALUES (:name, '{}'::jsonb)
ON CONFLICT (name) DO NOTHING
"""

LOCK_STATE = "SELECT value FROM compute_state WHERE name = :name FOR UPDATE"

UPDATE_STATE = """
UPDATE compute_state SET value = CAST(:value AS jsonb), updated_at = now() WHERE name = :name
"""


@dataclass(frozen=True)
class LeaseGrant:
    held: bool
    holder: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class StateDocument:
    value: dict[str, Any]
    updated_at: datetime


def acquire_lease(
    engine: Engine, name: str, holder: str, ttl_seconds: float, *, credential: str
) -> LeaseGrant:
    """Take or renew ``name`` for ``holder`` (acting through ``credential``) for
    ``ttl_seconds``; say who holds it, if that is this credential."""
    with engine.begin() as conn:
        params = {"name": name, "holder": holder, "ttl": ttl_seconds, "credential": credential}
        row = conn.execute(text(ACQUIRE_LEASE), params).mappings().first()
    if row is None:
        # A competitor inserted the row after this statement's snapshot was taken.
        return LeaseGrant(held=False, holder=None, expires_at=None)
    return LeaseGrant(held=bool(row["held"]), holder=row["holder"], expires_at=row["expires_at"])


def release_lease(engine: Engine, name: str, holder: str, *, credential: str) -> bool:
    """Give the lease up if ``holder`` has it through ``credential``; True when it did."""
    params = {"name": name, "holder": holder, "credential": credential}
    with engine.begin() as conn:
        result = conn.execute(text(RELEASE_LEASE), params)
    return bool(result.rowcount)


def holds_lease(engine: Engine, name: str, holder: str, *, credential: str) -> bool:
    params = {"name": name, "holder": holder, "credential": credential}
    with engine.connect() as conn:
        return bool(conn.execute(text(HOLDS_LEASE), params).scalar_one())


def read_state(engine: Engine, name: str) -> StateDocument | None:
    with engine.connect() as conn:
        row = conn.execute(text(READ_STATE), {"name": name}).mappings().first()
    if row is None:
        return None
    return StateDocument(value=dict(row["value"]), updated_at=row["updated_at"])


def write_state_as_holder(
    engine: Engine, name: str, value: dict[str, Any], *, lease: str, holder: str, credential: str
) -> datetime | None:
    """Replace the document if ``holder`` has ``lease`` through ``credential``; its new
    ``updated_at``, or None (nothing written) when it does not."""
    params = {
        "name": name,
        "value": json.dumps(value),
        "lease": lease,
        "holder": holder,
        "credential": credential,
    }
    with engine.begin() as conn:
        updated: datetime | None = conn.execute(
            text(WRITE_STATE_AS_HOLDER), params
        ).scalar_one_or_none()
    return updated


def update_state(
    engine: Engine, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply ``change`` to the document under a row lock; returns the new document."""
    with engine.begin() as conn:
        current = _lock(conn, name)
        new = change(dict(current))
        conn.execute(text(UPDATE_STATE), {"name": name, "value": json.dumps(new)})
    return new


def _lock(conn: Connection, name: str) -> dict[str, Any]:
    conn.execute(text(ENSURE_STATE), {"name": name})
    value: dict[str, Any] = conn.execute(text(LOCK_STATE), {"name": name}).scalar_one()
    return value
