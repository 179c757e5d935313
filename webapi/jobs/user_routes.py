"""The researchers' side of jobs (ANALYST or ADMIN): submit, list, read, cancel."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.views import MethodView

from shared.enums import JobStatus
from shared.errors import Forbidden, InvalidInput
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs import schemas
from webapi.jobs.access import owned_job, visible_job
from webapi.jobs.dependencies import readable
from webapi.jobs.runtime import jobs_runtime
from webapi.store.dependencies import of_job as dependencies_of

blp = Blueprint("jobs", __name__, url_prefix="/api/jobs", description="Jobs: the users' side")
USERS = ("ANALYST",)
# The jobs shown with their last log lines next to their error.
FAILED = (JobStatus.FAILED, JobStatus.TIMED_OUT)
IDEMPOTENCY_KEY = "Idempotency-Key"
_KEY = re.compile(r"[!-~]{1,255}")  # visible ASCII
# The header as OpenAPI documents it, on both submission routes.
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": IDEMPOTENCY_KEY,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            "description": "A key of the client's choosing (a UUID) that makes retrying safe:"
            " for a day, the same key from the same user with the same request answers what"
            " the first did (header Idempotent-Replayed: true) and creates nothing; with a"
            " different request, 409.",
        }
    ]
}
REPLAYED = {"Idempotent-Replayed": "true"}


@blp.route("", strict_slashes=False)
class Jobs(MethodView):
    @require_roles(*USERS)
    @blp.arguments(schemas.NewJob)
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.errors(403, 404, 409, 429)
    @blp.response(200, schemas.Created)
    def post(self, body: dict[str, Any]) -> Any:
        """Submit a job; an identical live or cached job is returned with ``cached: true``.

        429 when a new job would take you past your max PENDING jobs (``maxPending``).
        With ``Idempotency-Key``, a retry gets the first answer and creates nothing.
        With ``dependencies`` the job is always new and WAITING until they are met;
        a parent that does not exist is a 404, one you may not read a 403.
        """
        created = jobs_runtime().queue.create(
            user_id=current_principal().user_id,
            job_type=body["type"],
            payload=body["inputPayload"],
            priority=body["priority"],
            idempotency_key=idempotency_key(),
            dependencies=readable(body["dependencies"]),
        )
        answer = {
            "jobId": created.job.id,
            "cached": created.cached,
            "requestId": created.request_id,
        }
        return (answer, REPLAYED) if created.replayed else answer

    @require_roles(*USERS)
    @blp.arguments(schemas.ListQuery, location="query")
    @blp.response(200, schemas.JobsPage)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Jobs newest first: the caller's own, or anyone's for an admin."""
        principal = current_principal()
        user_id = query.get("userId")
        if user_id is not None and not principal.can_access(user_id):
            raise Forbidden("Only admins may list another user's jobs")
        if user_id is None and not principal.is_admin:
            user_id = principal.user_id
        return _page(user_id, query)


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` (None without one); 400 when it is malformed."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{IDEMPOTENCY_KEY} must be 1 to 255 visible ASCII characters (a UUID, say)",
            errors={IDEMPOTENCY_KEY: ["1 to 255 visible ASCII characters."]},
        )
    return key


@blp.route("/mine")
@require_roles(*USERS)
@blp.arguments(schemas.ListQuery, location="query")
@blp.response(200, schemas.JobsPage)
def mine(query: dict[str, Any]) -> dict[str, Any]:
    """The caller's own jobs, newest first."""
    return _page(current_principal().user_id, query)


def _page(user_id: int | None, query: dict[str, Any]) -> dict[str, Any]:
    page = jobs_runtime().reader.list_jobs(
        user_id=user_id,
        status=query.get("status"),
        job_type=query.get("type"),
        limit=query["limit"],
        cursor=query.get("cursor"),
    )
    return {"jobs": page.items, "total": page.total, "nextCursor": page.next_cursor}


@blp.route("/requests")
@require_roles(*USERS)
@blp.arguments(schemas.PageQuery, location="query")
@blp.response(200, schemas.JobRequestsOut)
def requests(query: dict[str, Any]) -> dict[str, Any]:
    """Every submission (cache hits included): the caller's own, or all for an admin."""
    principal = current_principal()
    page = jobs_runtime().reader.requests(
        user_id=None if principal.is_admin else principal.user_id,
        limit=query["limit"],
        cursor=query.get("cursor"),
    )
    return {"jobRequests": page.items, "nextCursor": page.next_cursor}


@blp.route("/<int:job_id>")
@require_roles(*USERS)
@blp.errors(404)
@blp.response(200, schemas.JobDetailEnvelope)
def get_job(job_id: int) -> dict[str, Any]:
    """One job with every assignment, each with its result (or null).

    A FAILED or TIMED_OUT job also has ``logTail``: the last lines its newest attempt logged.
    """
    visible_job(job_id)
    runtime = jobs_runtime()
    detail = runtime.reader.detail(job_id)
    assert detail is not None
    assignments = [
        {**assignment.as_dict(), "result": None if result is None else result.as_dict()}
        for assignment, result in detail.attempts
    ]
    tail = runtime.logs.tail(job_id) if detail.job.status in FAILED else None
    dependencies = dependencies_of(runtime.queue.engine, job_id)
    return {
        "job": {
            **detail.job.as_dict(),
            "assignments": assignments,
            "logTail": tail,
            "dependencies": dependencies,
        }
    }


@blp.route("/<int:job_id>/cancel", methods=["POST"])
@require_roles(*USERS)
@blp.arguments(schemas.CancelQuery, location="query")
@blp.errors(400, 404)
@blp.response(200, schemas.CancelOut)
def cancel(query: dict[str, Any], job_id: int) -> dict[str, Any]:
    """Cancel a WAITING, PENDING or IN_PROGRESS job; its worker learns it at its next
    heartbeat. The WAITING jobs downstream of it are cancelled with it
    (``cancelledDependents``) unless ``dependents=keep``.

    Only its creator or an admin may: a user the cache handed the job to may not.
    """
    owned_job(job_id)
    runtime = jobs_runtime()
    cancelled = runtime.queue.cancel_job(job_id, dependents=query["dependents"] == "cancel")
    job = cancelled.job
    runtime.metrics.jobs_finished.labels(job.type, job.status.value).inc()
    return {"job": job, "cancelledDependents": cancelled.dependents}


@blp.route("/invalidate-cache", methods=["POST"])
@require_roles("ADMIN")
@blp.arguments(schemas.InvalidateBody)
@blp.response(200, schemas.InvalidateOut)
def invalidate_cache(body: dict[str, Any]) -> dict[str, Any]:
    """Stop reusing the results of a job type (ADMIN)."""
    affected = jobs_runtime().queue.invalidate_cache(body["jobType"])
    return {
        "message": f"Invalidated {affected} cached results of {body['jobType']}",
        "invalidated": {"jobType": body["jobType"], "affectedResults": affected},
    }
