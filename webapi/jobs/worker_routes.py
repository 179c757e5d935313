"""The workers' protocol (WORKER or ADMIN), as the ReefGuide worker speaks it, plus
``claim`` (long-poll), ``heartbeat``, ``release`` and ``queue``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from sqlalchemy.exc import SQLAlchemyError

from shared.enums import JobStatus
from shared.errors import ShoalError, TooManyRequests
from webapi.auth import reauthenticate, require_roles
from webapi.blueprint import Blueprint
from webapi.events.waiters import Waiter, Wake
from webapi.jobs import schemas
from webapi.jobs.access import claimant
from webapi.jobs.inputs_from import resolved
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.metrics import Metrics
from webapi.serving import Delivery, client_gone
from webapi.store.queue import Claimed, Outcome, Queue
from webapi.store.records import Claimant

log = logging.getLogger(__name__)

blp = Blueprint("workers", __name__, url_prefix="/api/jobs", description="Jobs: the workers' side")
WORKERS = ("WORKER",)
# Built once: a schema's construction copies all its fields.
_CLAIM_OUT = schemas.ClaimOut()
_RESULT_NEXT_OUT = schemas.ResultNextOut()
_RESULTS_OUT = schemas.ResultsOut()


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
@blp.errors(429)
@blp.response(200, schemas.ClaimOut)
@blp.alt_response(204, description="Nothing to do within waitSeconds")
def claim(body: dict[str, Any]) -> Any:
    """Poll and assign in one atomic step, waiting up to ``waitSeconds`` for a job.

    With ``maxJobs`` above 1, up to that many jobs at once, as ``claims``. The wait
    holds no database connection: one PENDING job wakes one waiting claimer (of
    this API process) of its type. At most ``SHOAL_MAX_WAITING_CLAIMS`` waiting
    claims per worker (credential and ``ecsTaskArn``); past them, 429. A claim whose
    client has closed its connection takes no job, and an answer that cannot be
    written is undone: its jobs are PENDING again, no attempt spent.
    """
    runtime = jobs_runtime()
    gone = client_gone(request.environ)
    claimed = _take_claims(runtime, body, gone)
    if not claimed:
        return Response(status=204)
    answer = _claim_answer(runtime, claimed, body["maxJobs"])
    return _deliver(runtime, _CLAIM_OUT.dump(answer), claimed, gone)


def _take_claims(
    runtime: JobsRuntime, body: dict[str, Any], gone: Callable[[], bool]
) -> list[Claimed]:
    """The claim route's work: the jobs claimed for ``body`` (none within its wait, or
    for a client that has gone)."""
    types, limit = body["jobTypes"], body["maxJobs"]
    worker = claimant(body["ecsTaskArn"], body["ecsClusterArn"], body["capacity"])
    runtime.contacts.touch(worker.ecs_task_arn, body["waitSeconds"])
    if body["waitSeconds"] <= 0:
        if gone():
            return _nothing(runtime, Wake.GONE)
        return _claim(runtime, types, worker, limit)
    deadline = time.monotonic() + body["waitSeconds"]
    key = (worker.user_id, worker.api_key_id, worker.ecs_task_arn)
    cap = runtime.settings.max_waiting_claims
    with runtime.hub.claimers.register(frozenset(types), key, cap, gone) as waiter:
        if waiter is None:
            raise TooManyRequests(
                f"This worker already has {cap} waiting claims (SHOAL_MAX_WAITING_CLAIMS).",
                retry_after=1,
            )
        with runtime.metrics.waiting_claims.track_inprogress():
            return _wait_and_claim(runtime, waiter, worker, limit, deadline)


def _wait_and_claim(
    runtime: JobsRuntime, waiter: Waiter, worker: Claimant, limit: int, deadline: float
) -> list[Claimed]:
    claimers, types = runtime.hub.claimers, sorted(waiter.types)
    claimers.queue(waiter)
    # Nothing notified since a claim found nothing: wait before the first claim.
    must_wait = claimers.known_empty(waiter.types)
    wake: Wake | None = None
    while True:
        if must_wait:
            if not runtime.hub.draining.is_set():  # a stopping server lets none wait
                wake = waiter.take_wake() or waiter.wait(deadline - time.monotonic())
            if wake is None or wake is Wake.GONE or runtime.hub.draining.is_set():
                return _nothing(runtime, wake)
            # The wait may outlive the credential (a revoked key): check it before claiming.
            reauthenticate(*WORKERS)
        if waiter.gone():  # and the client may have left: a job for it would go to no one
            claimers.pass_on(waiter, wake)
            return _nothing(runtime, Wake.GONE)
        claimers.queue(waiter)
        before = claimers.snapshot(waiter.types)
        claimed = _claim(runtime, types, worker, limit)
        if claimed:
            if must_wait and wake is Wake.RECHECK:  # work the notifications missed: pass it on
                claimers.wake(claimed[0].job.type, Wake.RECHECK)
            elif must_wait and waiter.woken_by in {c.job.id for c in claimed}:
                claimers.took_notified(waiter, before)
            return claimed
        claimers.found_empty(waiter.types, before)
        must_wait = True


def _claim(runtime: JobsRuntime, types: list[str], worker: Claimant, limit: int) -> list[Claimed]:
    claimed = runtime.queue.claim_many(types, worker, limit)
    runtime.metrics.claims_run.labels("job" if claimed else "empty").inc()
    return claimed


def _nothing(runtime: JobsRuntime, wake: Wake | None) -> list[Claimed]:
    """No job within the wait (or none for a client that has gone)."""
    if wake is Wake.GONE:
        runtime.metrics.claims_for_gone_clients.labels("skipped").inc()
    return []


def _claim_answer(runtime: JobsRuntime, claimed: list[Claimed], limit: int) -> dict[str, Any]:
    """The claim route's answer for the jobs ``claimed`` (at least one)."""
    for one in claimed:
        _observe_start(runtime, one)
    claimed = [resolved(one) for one in claimed]
    if limit == 1:  # the single-job answer, exactly as ReefGuide workers read it
        return {"job": claimed[0].job, "assignment": claimed[0].assignment}
    return {"claims": [{"job": c.job, "assignment": c.assignment} for c in claimed]}


def _deliver(
    runtime: JobsRuntime, dumped: Any, claimed: list[Claimed], gone: Callable[[], bool]
) -> Response:
    """An answer carrying claims, sent only to a client still there; the claims are
    undone if it is not sent."""
    body = f"{current_app.json.dumps(dumped)}\n".encode()
    if not claimed:
        return Response(body, mimetype="application/json")
    undo = partial(_undo, runtime.queue, runtime.metrics, [c.assignment.id for c in claimed])
    response = Response(
        Delivery(body, gone, undo), mimetype="application/json", direct_passthrough=True
    )
    response.headers["Content-Length"] = str(len(body))
    return response


def _undo(queue: Queue, metrics: Metrics, assignment_ids: list[int], reason: str) -> None:
    """Hand back claims whose answer did not reach the worker: no attempt is spent."""
    try:
        undone = queue.unclaim(assignment_ids)
    except SQLAlchemyError as error:  # the lease will end the attempt instead
        log.warning(
            "cannot undo an undelivered claim: %s",
            type(error).__name__,
            extra={"action": "claim_undo_failed", "assignment_ids": assignment_ids},
        )
        return
    metrics.claims_for_gone_clients.labels("undone").inc(undone)
    log.info(
        "claim undone: %s",
        reason,
        extra={"action": "claim_undone", "assignment_ids": assignment_ids, "undone": undone},
    )


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
@blp.response(200, schemas.ResultNextOut)
def result(body: dict[str, Any], assignment_id: int) -> Any:
    """Report the outcome of a live assignment; anything else is refused unchanged.

    With ``next``, the same request then claims the next job(s) as the claim route does
    (and waits as it does), answered as ``next``."""
    runtime = jobs_runtime()
    job = runtime.queue.complete(
        assignment_id,
        claimant("", ""),
        status=JobStatus(body["status"]),
        result_payload=body.get("resultPayload"),
        error=body.get("error"),
    )
    runtime.metrics.jobs_finished.labels(job.type, job.status.value).inc()
    if "next" in body:
        return _answer_with_next(runtime, {"job": job}, body["next"], _RESULT_NEXT_OUT)
    return {"job": job}


@blp.route("/assignments/results", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.ResultsBody)
@blp.errors(400)
@blp.response(200, schemas.ResultsOut)
def results(body: dict[str, Any]) -> Any:
    """Report several outcomes at once (the caller's assignments), in one commit.

    Each is answered on its own, with the status and message the single result route
    would give it: one refused result leaves the others recorded. An assignment named
    twice refuses the whole request. With ``next``, the same request then claims the
    next job(s) as the claim route does, answered as ``next``."""
    runtime = jobs_runtime()
    outcomes = [
        Outcome(
            one["assignmentId"],
            JobStatus(one["status"]),
            one.get("resultPayload"),
            one.get("error"),
        )
        for one in body["results"]
    ]
    answers: list[dict[str, Any]] = []
    for outcome, answer in zip(
        outcomes, runtime.queue.complete_many(outcomes, claimant("", "")), strict=True
    ):
        if isinstance(answer, ShoalError):
            refused = {"status": answer.status, "message": answer.message}
            answers.append({"assignmentId": outcome.assignment_id, **refused})
            if answer.errors:
                answers[-1]["errors"] = answer.errors
        else:
            runtime.metrics.jobs_finished.labels(answer.type, answer.status.value).inc()
            answers.append({"assignmentId": outcome.assignment_id, "status": 200, "job": answer})
    if "next" not in body:
        return {"results": answers}
    return _answer_with_next(runtime, {"results": answers}, body["next"], _RESULTS_OUT)


def _answer_with_next(
    runtime: JobsRuntime, answer: dict[str, Any], claim_body: dict[str, Any], schema: Any
) -> Response:
    """``answer`` with the claim ``claim_body`` asks for as ``next`` (null: none within
    its wait), delivered as the claim route delivers."""
    gone = client_gone(request.environ)
    claimed = _take_claims(runtime, claim_body, gone)
    answer["next"] = _claim_answer(runtime, claimed, claim_body["maxJobs"]) if claimed else None
    return _deliver(runtime, schema.dump(answer), claimed, gone)


@blp.route("/assignments/<int:assignment_id>/release", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.ReleaseBody, required=False)
@blp.errors(400, 404)
@blp.response(200, schemas.JobEnvelope)
def release(body: dict[str, Any], assignment_id: int) -> Any:
    """Hand a live assignment back (a worker stopping): the job is PENDING again at once.

    With an ``error`` the attempt failed and is charged (the last one ends the job FAILED).
    """
    runtime = jobs_runtime()
    job = runtime.queue.release(assignment_id, claimant("", ""), error=body.get("error"))
    if job.status.terminal:
        runtime.metrics.jobs_finished.labels(job.type, job.status.value).inc()
    return {"job": job}


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
