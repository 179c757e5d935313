"""The workers' protocol (WORKER or ADMIN), as the ReefGuide worker speaks it, plus
``claim`` (long-poll), ``heartbeat``, ``release`` and ``queue``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Response
from flask.views import MethodView

from shared.db.queue import Claimed
from shared.enums import JobStatus
from webapi.auth import reauthenticate, require_roles
from webapi.blueprint import Blueprint
from webapi.events.hub import JobEvent
from webapi.jobs import schemas
from webapi.jobs.access import claimant
from webapi.jobs.runtime import JobsRuntime, jobs_runtime

blp = Blueprint("workers", __name__, url_prefix="/api/jobs", description="Jobs: the workers' side")
WORKERS = ("WORKER",)


@blp.route("/poll")
@require_roles(*WORKERS)
@blp.arguments(schemas.PollQuery, location="query")
@blp.response(200, schemas.JobsOut)
def poll(query: dict[str, Any]) -> dict[str, Any]:
    """PENDING jobs with no live assignment, oldest first, at most 10."""
    return {"jobs": jobs_runtime().queue.poll(query.get("jobType"), limit=10)}


@blp.route("/assign", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.AssignBody)
@blp.errors(400, 404)
@blp.response(200, schemas.AssignmentEnvelope)
def assign(body: dict[str, Any]) -> dict[str, Any]:
    """Take one PENDING job; of concurrent assigns of a job exactly one succeeds."""
    runtime = jobs_runtime()
    claimed = runtime.queue.assign(
        body["jobId"], claimant(body["ecsTaskArn"], body["ecsClusterArn"])
    )
    _observe_start(runtime, claimed)
    return {"assignment": claimed.assignment}


@blp.route("/claim", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.ClaimBody)
@blp.response(200, schemas.ClaimOut)
@blp.alt_response(204, description="Nothing to do within waitSeconds")
def claim(body: dict[str, Any]) -> Any:
    """Poll and assign in one atomic step, waiting up to ``waitSeconds`` for a job.

    The wait holds no database connection: it sleeps on this process's NOTIFY
    listener and wakes as soon as a job of a wanted type becomes PENDING, with a
    slow re-check in case a notification was missed.
    """
    runtime = jobs_runtime()
    types = body["jobTypes"]
    worker = claimant(body["ecsTaskArn"], body["ecsClusterArn"])
    deadline = time.monotonic() + body["waitSeconds"]

    def wanted(event: JobEvent) -> bool:
        return event.status == JobStatus.PENDING and event.type in types

    with runtime.hub.subscribe(wanted) as subscription:
        while True:
            claimed = runtime.queue.claim(types, worker)
            if claimed is not None:
                _observe_start(runtime, claimed)
                return {"job": claimed.job, "assignment": claimed.assignment}
            remaining = deadline - time.monotonic()
            if remaining <= 0 or runtime.hub.draining.is_set():
                return Response(status=204)
            with runtime.metrics.waiting_claims.track_inprogress():
                subscription.get(min(remaining, runtime.settings.claim_recheck_seconds))
            # The wait may outlive the credential (a revoked key): check it before claiming.
            reauthenticate(*WORKERS)


def _observe_start(runtime: JobsRuntime, claimed: Claimed) -> None:
    waited = (datetime.now(UTC) - claimed.job.created_at).total_seconds()
    runtime.metrics.claim_latency.labels(claimed.job.type).observe(max(waited, 0.0))


@blp.route("/assignments/<int:assignment_id>/heartbeat", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.HeartbeatBody)
@blp.errors(400, 404)
@blp.response(200, schemas.HeartbeatOut)
def heartbeat(body: dict[str, Any], assignment_id: int) -> Any:
    """Extend the lease and record progress; ``cancelled: true`` tells the worker to stop."""
    beat = jobs_runtime().queue.heartbeat(
        assignment_id, claimant("", ""), progress=body.get("progress"), message=body.get("message")
    )
    return {"cancelled": beat.cancelled, "expires_at": beat.expires_at}


@blp.route("/assignments/<int:assignment_id>/result", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.ResultBody)
@blp.errors(400, 404)
@blp.response(200, schemas.JobEnvelope)
def result(body: dict[str, Any], assignment_id: int) -> Any:
    """Report the outcome of a live assignment; anything else is refused unchanged."""
    runtime = jobs_runtime()
    job = runtime.queue.complete(
        assignment_id,
        claimant("", ""),
        status=JobStatus(body["status"]),
        result_payload=body.get("resultPayload"),
        error=body.get("error"),
    )
    runtime.metrics.jobs_finished.labels(job.type, job.status.value).inc()
    return {"job": job}


@blp.route("/assignments/<int:assignment_id>/release", methods=["POST"])
@require_roles(*WORKERS)
@blp.errors(400, 404)
@blp.response(200, schemas.JobEnvelope)
def release(assignment_id: int) -> Any:
    """Hand a live assignment back (a worker stopping): the job is PENDING again at once."""
    return {"job": jobs_runtime().queue.release(assignment_id, claimant("", ""))}


@blp.route("/queue")
class QueueDepth(MethodView):
    @require_roles(*WORKERS, "MANAGER")
    @blp.response(200, schemas.QueueOut)
    def get(self) -> dict[str, Any]:
        """Pending and in-progress jobs per type: what the manager scales on."""
        demand = jobs_runtime().queue.demand()
        return {
            "jobTypes": {
                t: {"pending": d.pending, "inProgress": d.in_progress} for t, d in demand.items()
            }
        }
