"""How long a job has run: what ``runSeconds`` says on its record and its page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from webapi.store.records import JobRecord


def run_seconds(job: JobRecord | Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds from the job's first start to its end, or to ``now`` while it has not
    ended (a retry waiting in the queue keeps counting); None before it first started."""
    started: datetime | None
    finished: datetime | None
    if isinstance(job, Mapping):
        started, finished = job.get("started_at"), job.get("finished_at")
    else:
        started, finished = job.started_at, job.finished_at
    if started is None:
        return None
    end = finished or now or datetime.now(UTC)
    return round(max((end - started).total_seconds(), 0.0), 1)
