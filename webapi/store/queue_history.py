"""The fleet page's last hour, minute by minute (statements in ``sql/queue_history.py``).

Pending, running and finished jobs per type come from the jobs' own timestamps, so no
sampler has to run for them; the fleet's size comes from the manager's reports, each
of which keeps its minute's largest count (``record_fleet_size``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from webapi.store.prepared import text
from webapi.store.sql import queue_history as sql

WINDOW_MINUTES = 60


@dataclass(frozen=True)
class TypeMinutes:
    """One job type's counts, one per minute of the window."""

    pending: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Activity:
    minutes: list[datetime]
    types: dict[str, TypeMinutes]
    # The fleet's size each minute; None where no report came (no manager running).
    workers: list[int | None]


def activity(engine: Engine, minutes: int = WINDOW_MINUTES) -> Activity:
    """The last ``minutes`` minutes, the current one last (one transaction, so every
    statement sees the same ``now()``)."""
    params = {"minutes": minutes}
    types: dict[str, TypeMinutes] = {}
    with engine.connect() as conn, conn.begin():
        times = list(conn.execute(text(sql.MINUTES), params).scalars())
        for _, job_type, pending, running, finished in conn.execute(text(sql.ACTIVITY), params):
            counts = types.setdefault(str(job_type), TypeMinutes())
            counts.pending.append(int(pending))
            counts.running.append(int(running))
            counts.finished.append(int(finished))
        rows = conn.execute(text(sql.FLEET_SIZES), params).all()
        fleet: dict[datetime, int] = {row.minute: row.workers for row in rows}
    return Activity(minutes=times, types=types, workers=[fleet.get(at) for at in times])


def record_fleet_size(engine: Engine, workers: int) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql.RECORD_FLEET_SIZE), {"workers": workers})
