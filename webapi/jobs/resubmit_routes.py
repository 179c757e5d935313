"""Running a job again: a new job of the same type with the same input, or an edited one.

``run_again`` is the one operation; the API route here and the dashboard's Run again
button both call it.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs import schemas
from webapi.jobs.access import visible_job
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import IDEMPOTENCY_DOC, REPLAYED, USERS, idempotency_key
from webapi.schemas import Strict
from webapi.store.models import MAX_PRIORITY
from webapi.store.queue import Created
from webapi.store.records import JobRecord

blp = Blueprint("resubmit", __name__, url_prefix="/api/jobs", description="Jobs: run a job again")


class ResubmitBody(Strict):
    inputPayload = ma.fields.Dict(  # noqa: N815 - checked by the type's schema
        load_default=None,
        allow_none=True,
        metadata={"description": "The new job's input; absent or null: the job's own input"},
    )
    noCache = ma.fields.Boolean(  # noqa: N815 - wire name
        load_default=False,
        truthy={True},
        falsy={False},
        metadata={"description": "Always create a new job: reuse no earlier or live job"},
    )
    priority = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=ma.validate.Range(min=-MAX_PRIORITY, max=MAX_PRIORITY),
        metadata={"description": "The new job's priority; absent or null: the job's own"},
    )


def run_again(
    job: JobRecord,
    user_id: int,
    *,
    payload: dict[str, Any] | None = None,
    use_cache: bool = True,
    priority: int | None = None,
    key: str | None = None,
) -> Created:
    """A job for ``user_id`` of ``job``'s type (its current revision), with ``payload``
    or ``job``'s input, checked like any submission."""
    return jobs_runtime().queue.create(
        user_id=user_id,
        job_type=job.type,
        payload=job.input_payload if payload is None else payload,
        priority=job.priority if priority is None else priority,
        idempotency_key=key,
        use_cache=use_cache,
    )


@blp.route("/<int:job_id>/resubmit", methods=["POST"])
@require_roles(*USERS)
@blp.arguments(ResubmitBody)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.errors(404, 409, 429)
@blp.response(200, schemas.Created)
def resubmit(body: dict[str, Any], job_id: int) -> Any:
    """Run job ``job_id`` again as a new job of yours: its type, and its input unless
    ``inputPayload`` gives another (checked like a submission: 400 naming the problem).

    Anyone who may read the job may (its creator, an admin, a user the cache answered
    with it). Like a submission, an identical live or cached job is returned with
    ``cached: true``, unless ``noCache``.
    """
    created = run_again(
        visible_job(job_id),
        current_principal().user_id,
        payload=body["inputPayload"],
        use_cache=not body["noCache"],
        priority=body["priority"],
        key=idempotency_key(),
    )
    answer = {"jobId": created.job.id, "cached": created.cached, "requestId": created.request_id}
    return (answer, REPLAYED) if created.replayed else answer
