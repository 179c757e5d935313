"""Queue depth over the last hour, reconstructed from the jobs' own timestamps.

A job was pending at time ``t`` when it had been created and had neither started
nor finished by ``t``. No sampling table is needed; a job retried after its lease
expired counts as running from its first start, so the curve is a close lower bound.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text

# Only jobs still live or finished inside the window can have been pending in it.
QUEUE_DEPTH = """
SELECT t.at AS at, j.type AS type,
       count(*) FILTER (
           WHERE j.created_at <= t.at
             AND (j.started_at IS NULL OR j.started_at > t.at)
             AND (j.finished_at IS NULL OR j.finished_at > t.at)) AS pending
FROM generate_series(now() - make_interval(mins => :minutes), now(),
                     make_interval(mins => :step)) AS t(at)
CROSS JOIN (
    SELECT type, created_at, started_at, finished_at FROM jobs
    WHERE finished_at IS NULL OR finished_at > now() - make_interval(mins => :minutes)
) AS j
GROUP BY t.at, j.type
ORDER BY j.type, t.at
"""


def queue_depth(
    engine: Engine, *, minutes: int = 60, step: int = 5
) -> dict[str, list[tuple[datetime, int]]]:
    """``{job type: [(time, pending jobs)]}`` every ``step`` minutes over ``minutes``."""
    series: dict[str, list[tuple[datetime, int]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(text(QUEUE_DEPTH), {"minutes": minutes, "step": step})
        for at, job_type, pending in rows:
            series.setdefault(str(job_type), []).append((at, int(pending)))
    return series
