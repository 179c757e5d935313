"""Queue depth over the last hour, reconstructed from the jobs' own timestamps.

A job was pending at time ``t`` when it had been created and had neither started
nor finished by ``t``. No sampling table is needed; a job retried after its lease
expired counts as running from its first start, so the curve is a close lower bound.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from webapi.store.prepared import text
from webapi.store.sql import reads as reads_sql


def queue_depth(
    engine: Engine, *, minutes: int = 60, step: int = 5
) -> dict[str, list[tuple[datetime, int]]]:
    """``{job type: [(time, pending jobs)]}`` every ``step`` minutes over ``minutes``."""
    series: dict[str, list[tuple[datetime, int]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(text(reads_sql.QUEUE_DEPTH), {"minutes": minutes, "step": step})
        for at, job_type, pending in rows:
            series.setdefault(str(job_type), []).append((at, int(pending)))
    return series
