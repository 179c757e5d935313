"""The facts behind a PENDING job's ``pendingReason`` (``sql/pending.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from webapi.store.prepared import text
from webapi.store.records import JobRecord
from webapi.store.sql import pending as sql


@dataclass(frozen=True)
class PendingFacts:
    ahead: int  # older PENDING jobs of the type, counted up to the bound
    running: int  # the owner's running jobs of the type
    max_running: int | None  # the owner's limit per type (None: none)
    of_type_running: int  # reported workers serving the type, running
    of_type_starting: int  # ... launched, not yet running
    live: int  # reported workers of any type that are not stopping
    desired: int | None  # the local backend's cap, if an admin set one
    fleet_at: datetime | None  # when the manager last reported the fleet


def pending_facts(
    engine: Engine, job: JobRecord, *, bound: int, fleet: str, local: str
) -> PendingFacts:
    """What ``job`` (PENDING) waits on; ``fleet`` and ``local`` name the compute state
    documents of the manager's report and of the local backend's settings."""
    params = {
        "type": job.type,
        "created_at": job.created_at,
        "id": job.id,
        "user_id": job.user_id,
        "bound": bound,
        "fleet": fleet,
        "local": local,
    }
    with engine.connect() as conn:
        row = conn.execute(text(sql.PENDING_FACTS), params).mappings().one()
    return PendingFacts(**{**row, "running": row["running"] or 0})
