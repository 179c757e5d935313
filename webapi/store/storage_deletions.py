"""The outbox of result files to delete (``storage_deletions``), and whether a stored
file still belongs to a job."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from webapi.store.prepared import text
from webapi.store.sql import storage as sql


@dataclass(frozen=True)
class Due:
    """A row taken for deletion: its id, the URI under which to delete, attempts so far."""

    id: int
    storage_uri: str
    attempts: int


def take_due(engine: Engine, *, hold_seconds: float, batch: int) -> list[Due]:
    """Up to ``batch`` due rows, each held for ``hold_seconds``."""
    with engine.begin() as conn:
        rows = conn.execute(text(sql.TAKE), {"hold": hold_seconds, "batch": batch}).all()
    return [Due(*row) for row in rows]


def done(engine: Engine, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql.DONE), {"id": row_id})


def failed(engine: Engine, row_id: int, *, backoff_seconds: float, error: str) -> None:
    """Keep the row with ``error``; it is due again after ``backoff_seconds``."""
    with engine.begin() as conn:
        conn.execute(text(sql.FAILED), {"id": row_id, "backoff": backoff_seconds, "error": error})


def attempt_exists(engine: Engine, job_id: int, storage_uri: str) -> bool:
    """Whether job ``job_id`` still has an attempt stored under ``storage_uri``."""
    with engine.connect() as conn:
        found = conn.execute(text(sql.ATTEMPT_EXISTS), {"job_id": job_id, "uri": storage_uri})
        return bool(found.scalar_one())
