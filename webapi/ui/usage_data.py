"""What the dashboard's pages show of usage and cost: the store's usage functions, one
connection a page, put in wire form by the same functions as the API's answers, so a
page shows exactly the figures the API gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.jobtypes import JobTypeSpec
from webapi.services import services
from webapi.store import usage as store
from webapi.store.records import AssignmentRecord
from webapi.usage.schemas import estimate_wire
from webapi.usage.wire import attempt_usage, usage_wire

# The job type page's estimate: what one job and what a sweep of this many inputs cost.
SWEEP_INPUTS = 100


def usage_report(by: str, start: datetime, end: datetime, user_id: int | None) -> dict[str, Any]:
    """``GET /api/usage``'s answer for ``by`` (its rows costliest first)."""
    with services().engine.connect() as conn:
        found = store.report(conn, by, start, end, user_id)
    rows = [{"key": r.key, "label": r.label, **usage_wire(r.usage)} for r in found.rows]
    return {"by": by, "currency": store.CURRENCY, "rows": rows, "total": usage_wire(found.total)}


def job_usage(
    job_id: int, assignments: list[AssignmentRecord]
) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The job's ``usage`` and each attempt's (by assignment id), as its detail gives them."""
    with services().engine.connect() as conn:
        used = store.job_attempts(conn, job_id)
    attempts = {a.id: attempt_usage(a, used.get(a.id)) for a in assignments}
    return usage_wire(store.total(used.values())), attempts


def batch_usage(batch_id: int) -> dict[str, Any]:
    with services().engine.connect() as conn:
        return usage_wire(store.batch_usage(conn, batch_id))


def workflow_usage(workflow_id: int) -> dict[str, Any]:
    with services().engine.connect() as conn:
        return usage_wire(store.workflow_usage(conn, workflow_id))


def estimates(spec: JobTypeSpec) -> dict[str, dict[str, Any]]:
    """``GET /api/usage/estimate``'s answers for one job and for ``SWEEP_INPUTS``."""
    with services().engine.connect() as conn:
        one, sweep = store.estimate(conn, spec, 1), store.estimate(conn, spec, SWEEP_INPUTS)
    return {"per_job": estimate_wire(one), "batch": estimate_wire(sweep)}
