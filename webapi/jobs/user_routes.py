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
from webapi.jobs.pending import pending_reason
from webapi.jobs.runtime import jobs_runtime
from webapi.store import usage
from webapi.store.dependencies import of_job as dependencies_of
from webapi.store.job_lists import JobFilters, JobLists, JobSort
from webapi.store.labels import tags_of
from webapi.usage.wire import attempt_usage, usage_wire

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
        """Submit a job; an identical live or cached job is returned with ``cached: true``
        (it keeps its own name and tags), unless ``noCache``.

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
            labels=schemas.labels_of(body),
            use_cache=not body["noCache"],
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
        """Jobs, newest first unless ``sort``/``order`` say otherwise, a page at a time
        (``nextCursor``): the caller's own and reused ones, or anyone's for an admin.

        Filters combine (all must hold). ``reused`` marks another user's job the result
        cache answered one of the caller's submissions with. An admin sees every user's
        jobs, or one user's own with ``userId``.
        """
        principal = current_principal()
        owner = query.get("userId")
        if owner is not None and not principal.can_access(owner):
            raise Forbidden("Only admins may list another user's jobs")
        if principal.is_admin or owner is not None:
            return _page(query, user_id=None, owner=owner)
        return _page(query, user_id=principal.user_id)


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
    """The caller's own jobs and those reused for them (``reused: true``: another user's
    job the result cache answered one of their submissions with); filters and sort as
    ``GET /api/jobs``. ``allUsers`` (ADMIN): every user's jobs instead."""
    principal = current_principal()
    return _page(query, user_id=principal.user_id)


def _page(
    query: dict[str, Any], *, user_id: int | None, owner: int | None = None
) -> dict[str, Any]:
    """A page of the list ``query`` asks for, of ``user_id``'s (and reused) jobs, or
    (None) of ``owner``'s or everyone's."""
    if query["allUsers"]:
        if not current_principal().is_admin:
            raise Forbidden("Only admins may list every user's jobs")
        user_id = None
    page = JobLists(jobs_runtime().reader.engine).page(
        list_filters(query, user_id=user_id, owner=owner),
        list_sort(query),
        limit=query["limit"],
        cursor=query.get("cursor"),
    )
    return {
        "jobs": page.items,
        "total": page.total,
        "totalCapped": page.capped,
        "nextCursor": page.next_cursor,
    }


def list_filters(query: dict[str, Any], *, user_id: int | None, owner: int | None) -> JobFilters:
    """The filters of a list query (``ListQuery``)."""
    return JobFilters(
        user_id=user_id,
        owner=owner,
        statuses=query.get("status") or (),
        type=query.get("type"),
        batch=query.get("batch"),
        name=query.get("name"),
        tags=tags_of(query.get("tag") or []),
        since=query.get("since"),
        until=query.get("until"),
    )


def list_sort(query: dict[str, Any]) -> JobSort:
    """The sort of a list query (``submitted`` is the id's order)."""
    key = "id" if query["sort"] == "submitted" else query["sort"]
    return JobSort(key, query["order"] == "desc")


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
    """One job with every assignment, each with its result (or null), and the batch
    that created it (``batchId``, ``batchName``; null for a single submission).

    A FAILED or TIMED_OUT job also has ``logTail``: the last lines its newest attempt logged;
    a PENDING job has ``pendingReason``: why it waits.
    """
    visible_job(job_id)
    runtime = jobs_runtime()
    detail = runtime.reader.detail(job_id)
    assert detail is not None
    with runtime.queue.engine.connect() as conn:
        used = usage.job_attempts(conn, job_id)
    assignments = [
        {
            **assignment.as_dict(),
            **attempt_usage(assignment, used.get(assignment.id)),
            "result": None if result is None else result.as_dict(),
        }
        for assignment, result in detail.attempts
    ]
    tail = runtime.logs.tail(job_id) if detail.job.status in FAILED else None
    batch = runtime.batches.of_job(job_id)
    batched = {"batch_id": batch and batch.id, "batch_name": batch and batch.name}
    job = {**detail.job.as_dict(), "assignments": assignments, "logTail": tail, **batched}
    job["usage"] = usage_wire(usage.total(used.values()))
    return {
        "job": {
            **job,
            "pendingReason": pending_reason(detail.job),
            "dependencies": dependencies_of(runtime.queue.engine, job_id),
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
