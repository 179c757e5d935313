"""Why a PENDING job waits: ``pendingReason`` on its single-job record, its page and
``shoal jobs get``.

The first of these that holds, in this order: no worker may start (the fleet or the
type is paused; no manager reports); its owner is at ``maxRunning`` for the type; no
worker serves the type and the fleet is at its cap; a worker is starting, or about to
be; else it is in the queue, behind its type's older PENDING jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.enums import JobStatus
from webapi.admin.control import DEFAULT_LOCAL_DESIRED, FLEET, FLEET_FRESH, LOCAL
from webapi.jobs.runtime import jobs_runtime
from webapi.services import services
from webapi.store.pending import PendingFacts, pending_facts
from webapi.store.records import JobRecord

# The jobs ahead are counted up to this many; past it the reason says "more than".
AHEAD_SHOWN = 1000


def pending_reason(job: JobRecord) -> dict[str, str] | None:
    """``{"code", "message"}`` for a PENDING job; None for any other."""
    if job.status is not JobStatus.PENDING:
        return None
    runtime = jobs_runtime()
    facts = pending_facts(services().engine, job, bound=AHEAD_SHOWN + 1, fleet=FLEET, local=LOCAL)
    registered = runtime.catalogue.registered().get(job.type)
    scaling = registered.type.document.get("scaling") if registered else None
    local = services().settings.compute.backend == "local"
    code, message = _reason(job, facts, scaling, local, runtime.settings.fair_share)
    return {"code": code, "message": message}


def _reason(
    job: JobRecord,
    facts: PendingFacts,
    scaling: dict[str, Any] | None,
    local: bool,
    fair_share: bool,
) -> tuple[str, str]:
    kind = job.type
    desired = DEFAULT_LOCAL_DESIRED if facts.desired is None else facts.desired
    stopped = _nothing_starts(kind, facts, scaling, paused=local and desired == 0)
    if stopped is not None:
        return stopped
    if fair_share and facts.max_running is not None and facts.running >= facts.max_running:
        return "MAX_RUNNING", (
            f"Its owner has {facts.running} {kind} jobs running, their maxRunning:"
            " it waits until one of them ends."
        )
    if facts.of_type_running + facts.of_type_starting == 0 and local and facts.live >= desired:
        return "FLEET_AT_CAP", (
            f"No {kind} worker runs, and the fleet is at its cap of {desired} workers"
            " (busy with other types): one starts when another exits."
        )
    if facts.of_type_running == 0:
        starting = (
            f"{facts.of_type_starting} {kind} worker(s) launched, none has claimed yet."
            if facts.of_type_starting
            else f"the manager starts a {kind} worker at its next tick."
        )
        return "WORKER_STARTING", f"Waiting for a worker to start: {starting}"
    return "QUEUED", _queued(kind, facts.ahead)


def _nothing_starts(
    kind: str, facts: PendingFacts, scaling: dict[str, Any] | None, *, paused: bool
) -> tuple[str, str] | None:
    """A reason no worker of the type will start, whatever the queue does."""
    if paused:
        return "PAUSED", "No worker starts: an admin paused the fleet (desired count 0)."
    if scaling is not None and scaling.get("max") == 0:
        return "PAUSED", f"No worker starts: {kind}'s scaling allows none (max 0)."
    if facts.fleet_at is None or datetime.now(UTC) - facts.fleet_at >= FLEET_FRESH:
        return "NO_MANAGER", (
            f"No manager has reported the fleet for over {FLEET_FRESH.seconds} s:"
            f" nothing starts a {kind} worker."
        )
    return None


def _queued(kind: str, ahead: int) -> str:
    if ahead > AHEAD_SHOWN:
        return f"Behind more than {AHEAD_SHOWN:,} older PENDING {kind} jobs."
    if ahead:
        return f"Behind {ahead:,} older PENDING {kind} job(s)."
    return f"Next in line: a {kind} worker takes it when one is free."
