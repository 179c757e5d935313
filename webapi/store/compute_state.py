"""Compute state kept by the web API for the manager and the admin routes.

Two things live here, each a few named statements (``sql/compute_state.py``):

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

from sqlalchemy import Connection, Engine

from webapi.store.prepared import text
from webapi.store.sql import compute_state as sql


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
        row = conn.execute(text(sql.ACQUIRE_LEASE), params).mappings().first()
    if row is None:
        # A competitor inserted the row after this statement's snapshot was taken.
        return LeaseGrant(held=False, holder=None, expires_at=None)
    return LeaseGrant(held=bool(row["held"]), holder=row["holder"], expires_at=row["expires_at"])


def lease_held(conn: Connection, name: str) -> bool:
    """Whether anyone holds lease ``name`` now."""
    return bool(conn.execute(text(sql.LEASE_HELD), {"name": name}).scalar_one())


def release_lease(engine: Engine, name: str, holder: str, *, credential: str) -> bool:
    """Give the lease up if ``holder`` has it through ``credential``; True when it did."""
    params = {"name": name, "holder": holder, "credential": credential}
    with engine.begin() as conn:
        result = conn.execute(text(sql.RELEASE_LEASE), params)
    return bool(result.rowcount)


def holds_lease(engine: Engine, name: str, holder: str, *, credential: str) -> bool:
    params = {"name": name, "holder": holder, "credential": credential}
    with engine.connect() as conn:
        return bool(conn.execute(text(sql.HOLDS_LEASE), params).scalar_one())


def read_state(engine: Engine, name: str) -> StateDocument | None:
    with engine.connect() as conn:
        row = conn.execute(text(sql.READ_STATE), {"name": name}).mappings().first()
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
            text(sql.WRITE_STATE_AS_HOLDER), params
        ).scalar_one_or_none()
    return updated


def update_state(
    engine: Engine, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply ``change`` to the document under a row lock; returns the new document."""
    with engine.begin() as conn:
        current = _lock(conn, name)
        new = change(dict(current))
        conn.execute(text(sql.UPDATE_STATE), {"name": name, "value": json.dumps(new)})
    return new


def _lock(conn: Connection, name: str) -> dict[str, Any]:
    conn.execute(text(sql.ENSURE_STATE), {"name": name})
    value: dict[str, Any] = conn.execute(text(sql.LOCK_STATE), {"name": name}).scalar_one()
    return value
