"""Wire schemas of the jobs routes: camelCase bodies in, the seed's snake_case records out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from shared.enums import Capacity, JobStatus
from webapi.jobs.dependency_schemas import DependencyOut, dependencies_field
from webapi.jobs.log_schemas import LogLineOut
from webapi.jobs.run_time import run_seconds
from webapi.schemas import Strict, UtcDateTime
from webapi.store import labels
from webapi.store.job_lists import COUNT_CAP
from webapi.store.models import MAX_PRIORITY
from webapi.store.queue import MAX_RESULTS
from webapi.store.queue_reads import MAX_ID
from webapi.store.sql.job_lists import SORTS
from webapi.usage.wire import AttemptUsageOut, UsageOut

MAX_WAIT_SECONDS = 30
MAX_CLAIM_JOBS = 50
_TEXT = ma.validate.Length(min=1, max=2048)


def priority_field() -> ma.fields.Integer:
    """A job's ``priority``: orders one user's own PENDING jobs, higher first."""
    return ma.fields.Integer(
        load_default=0,
        strict=True,
        validate=ma.validate.Range(min=-MAX_PRIORITY, max=MAX_PRIORITY),
        metadata={"description": "Orders your own PENDING jobs under fair share: higher first."},
    )


def _check(problem: Callable[[Any], str | None]) -> Callable[[Any], None]:
    def validate(value: Any) -> None:
        found = problem(value)
        if found is not None:
            raise ma.ValidationError(found)

    return validate


class LabelFields(ma.Schema):
    """A submission's ``name``, ``tags`` and ``noCache`` (one job, or every job of a batch)."""

    name = ma.fields.String(
        validate=_check(labels.name_problem),
        metadata={"description": f"What to call the job(s): 1 to {labels.MAX_NAME} characters"},
    )
    tags = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        validate=_check(labels.tags_problem),
        metadata={
            "description": f"Up to {labels.MAX_TAGS} labels {{key: value}} to find the job(s)"
            " by (GET /api/jobs?tag=key=value); keys are 1 to 64 letters, digits or _.:/-"
        },
    )
    noCache = ma.fields.Boolean(  # noqa: N815 - wire name
        load_default=False,
        metadata={"description": "Run anew: no live or cached job with the same input answers it"},
    )


def labels_of(body: dict[str, Any]) -> labels.Labels:
    return labels.Labels(body.get("name"), body.get("tags") or {})


class JobOut(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String()
    status = ma.fields.String()
    user_id = ma.fields.Integer()
    input_payload = ma.fields.Raw()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    attempts = ma.fields.Integer()
    max_attempts = ma.fields.Integer()
    progress = ma.fields.Float()
    progress_message = ma.fields.String(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    priority = ma.fields.Integer()
    typeRevision = ma.fields.Integer(  # noqa: N815 - the agreed wire name (issue 25)
        attribute="type_revision",
        allow_none=True,
        metadata={
            "description": "The revision of a registered type the job was submitted under"
            " (GET /api/job-types/{type}/revisions/{typeRevision}); null for other types"
        },
    )
    name = ma.fields.String(allow_none=True, metadata={"description": "Its submitter's name"})
    tags = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "Its submitter's labels, {key: value}"},
    )
    reused = ma.fields.Boolean(
        metadata={
            "description": "In a list: another user's job the result cache answered one of"
            " your submissions with (you may read it, not cancel it)"
        }
    )
    runSeconds = ma.fields.Function(  # noqa: N815 - wire name
        run_seconds,
        metadata={
            "type": "number",
            "nullable": True,
            "description": "Seconds the job has run: from its first start (started_at) to its"
            " end, or to this answer while it has not ended; null before it first started",
        },
    )


class ResultOut(ma.Schema):
    id = ma.fields.Integer()
    job_id = ma.fields.Integer()
    assignment_id = ma.fields.Integer()
    created_at = UtcDateTime()
    result_payload = ma.fields.Raw(allow_none=True)
    storage_scheme = ma.fields.String()
    storage_uri = ma.fields.String()
    metadata = ma.fields.Raw(attribute="metadata_", allow_none=True)
    cache_valid = ma.fields.Boolean()


class AssignmentOut(ma.Schema):
    id = ma.fields.Integer()
    job_id = ma.fields.Integer()
    attempt = ma.fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    ecs_task_arn = ma.fields.String()
    ecs_cluster_arn = ma.fields.String()
    expires_at = UtcDateTime()
    storage_scheme = ma.fields.String()
    storage_uri = ma.fields.String()
    heartbeat_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    deadline_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "The attempt's run-time limit (the type's timeoutSeconds)."},
    )
    lost_reason = ma.fields.String(
        allow_none=True,
        metadata={"description": "Outcome LOST: why its worker was lost, as the manager saw it."},
    )
    counted = ma.fields.Boolean(
        metadata={
            "description": "Whether the attempt counts against maxAttempts: not when it was"
            " RELEASED, or LOST to the platform (Spot, a lost host, a kill from outside)."
        }
    )


class AssignmentWithResult(AssignmentOut, AttemptUsageOut):
    result = ma.fields.Nested(ResultOut, allow_none=True)


class PendingReasonOut(ma.Schema):
    code = ma.fields.String(
        metadata={
            "description": "PAUSED, NO_MANAGER, MAX_RUNNING, FLEET_AT_CAP, WORKER_STARTING"
            " or QUEUED"
        }
    )
    message = ma.fields.String(metadata={"description": "The reason as a sentence"})


class JobDetailOut(JobOut):
    assignments = ma.fields.List(ma.fields.Nested(AssignmentWithResult))
    logTail = ma.fields.List(  # noqa: N815 - wire name
        ma.fields.Nested(LogLineOut),
        allow_none=True,
        metadata={
            "description": "A FAILED or TIMED_OUT job: the last lines of its newest attempt"
            " that logged (null otherwise)"
        },
    )
    batchId = ma.fields.Integer(  # noqa: N815 - wire name
        attribute="batch_id",
        allow_none=True,
        metadata={"description": "The batch that created it (GET /api/jobs/batches/{id}), or null"},
    )
    batchName = ma.fields.String(attribute="batch_name", allow_none=True)  # noqa: N815
    pendingReason = ma.fields.Nested(  # noqa: N815 - wire name
        PendingReasonOut,
        allow_none=True,
        metadata={
            "description": "A PENDING job: why it waits, as a code and a sentence (null"
            " otherwise; not in lists)"
        },
    )
    dependencies = ma.fields.List(
        ma.fields.Nested(DependencyOut),
        metadata={"description": "What it waits (or waited) for, each parent as it stands"},
    )
    usage = ma.fields.Nested(
        UsageOut,
        metadata={"description": "What its attempts used and cost, a running one so far"},
    )


class JobEnvelope(ma.Schema):
    job = ma.fields.Nested(JobOut)


class CancelQuery(Strict):
    dependents = ma.fields.String(
        load_default="cancel",
        validate=ma.validate.OneOf(["cancel", "keep"]),
        metadata={
            "description": "cancel (the default): the WAITING jobs downstream of it are"
            " cancelled with it; keep: their conditions decide (an afterany one runs)"
        },
    )


class CancelOut(JobEnvelope):
    cancelledDependents = ma.fields.Integer(  # noqa: N815 - wire name
        metadata={"description": "WAITING jobs downstream of it cancelled with it"}
    )


class JobDetailEnvelope(ma.Schema):
    job = ma.fields.Nested(JobDetailOut)


class JobsPage(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(JobOut))
    total = ma.fields.Integer(
        metadata={"description": f"How many jobs match, counted up to {COUNT_CAP:,}"}
    )
    totalCapped = ma.fields.Boolean(  # noqa: N815 - wire name
        metadata={"description": f"More than {COUNT_CAP:,} jobs match: total is a lower bound"}
    )
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815 - wire name


class JobRequestOut(ma.Schema):
    id = ma.fields.Integer()
    created_at = UtcDateTime()
    user_id = ma.fields.Integer()
    type = ma.fields.String()
    input_payload = ma.fields.Raw()
    cache_hit = ma.fields.Boolean()
    job_id = ma.fields.Integer()


class JobRequestsOut(ma.Schema):
    jobRequests = ma.fields.List(ma.fields.Nested(JobRequestOut))  # noqa: N815
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815


class NewJob(Strict, LabelFields):
    type = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    inputPayload = ma.fields.Dict(required=True)  # noqa: N815 - checked by the type's schema
    priority = priority_field()
    dependencies = dependencies_field()


class Created(ma.Schema):
    jobId = ma.fields.Integer()  # noqa: N815
    cached = ma.fields.Boolean()
    requestId = ma.fields.Integer()  # noqa: N815


class ListTime(UtcDateTime):
    """A time filter, made UTC (no zone: UTC): an offset PostgreSQL does not take
    (past ±15:59) names the time all the same."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        found = super()._deserialize(value, attr, data, **kwargs)
        if found.tzinfo is None:
            return found.replace(tzinfo=UTC)
        try:
            return found.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("Not a time in years 1 to 9999 in UTC.") from None


class ListQuery(Strict):
    status = ma.fields.List(
        ma.fields.Enum(JobStatus, by_value=True),
        validate=ma.validate.Length(max=len(JobStatus)),
        metadata={"description": "Any of these statuses (repeat the parameter)"},
    )
    type = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    batch = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The jobs of this batch's inputs"},
    )
    name = ma.fields.String(
        validate=_check(labels.name_problem),
        metadata={"description": "Names that start with this"},
    )
    tag = ma.fields.List(
        ma.fields.String(validate=_check(labels.tag_filter_problem)),
        validate=ma.validate.Length(max=labels.MAX_TAGS),
        metadata={"description": "key=value: jobs with this tag (repeat: all of them)"},
    )
    since = ListTime(metadata={"description": "Submitted at or after (ISO 8601; UTC if no zone)"})
    until = ListTime(metadata={"description": "Submitted before (ISO 8601; UTC if no zone)"})
    # users.id is a PostgreSQL integer: a larger id names no one, and must not reach SQL.
    userId = ma.fields.Integer(  # noqa: N815
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "This user's own jobs (ADMIN, or yourself)"},
    )
    allUsers = ma.fields.Boolean(  # noqa: N815
        load_default=False, metadata={"description": "Every user's jobs (ADMIN)"}
    )
    sort = ma.fields.String(
        load_default="id",
        validate=ma.validate.OneOf([*SORTS, "submitted"]),
        metadata={"description": "id (= submitted), status, type, name or runtime"},
    )
    order = ma.fields.String(load_default="desc", validate=ma.validate.OneOf(["asc", "desc"]))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(validate=ma.validate.Length(max=1000))


class PageQuery(Strict):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


class DownloadQuery(Strict):
    expirySeconds = ma.fields.Integer(  # noqa: N815
        load_default=3600, validate=ma.validate.Range(min=1, max=7 * 86400)
    )
    filterPrefix = ma.fields.String(validate=ma.validate.Length(max=1024))  # noqa: N815


class JobSummary(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String()
    status = ma.fields.String()


class DownloadOut(ma.Schema):
    job = ma.fields.Nested(JobSummary)
    files = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class InvalidateBody(Strict):
    jobType = ma.fields.String(required=True)  # noqa: N815


class Invalidated(ma.Schema):
    jobType = ma.fields.String()  # noqa: N815
    affectedResults = ma.fields.Integer()  # noqa: N815


class InvalidateOut(ma.Schema):
    message = ma.fields.String()
    invalidated = ma.fields.Nested(Invalidated)


class PollQuery(Strict):
    jobType = ma.fields.String(validate=ma.validate.Length(min=1, max=64))  # noqa: N815


class JobsOut(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(JobOut))


class AssignBody(Strict):
    jobId = ma.fields.Integer(required=True, strict=True)  # noqa: N815
    ecsTaskArn = ma.fields.String(required=True, validate=_TEXT)  # noqa: N815
    ecsClusterArn = ma.fields.String(required=True, validate=_TEXT)  # noqa: N815


class AssignmentEnvelope(ma.Schema):
    assignment = ma.fields.Nested(AssignmentOut)


class ClaimBody(Strict):
    jobTypes = ma.fields.List(  # noqa: N815
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
        required=True,
        validate=ma.validate.Length(min=1, max=50),
    )
    ecsTaskArn = ma.fields.String(required=True, validate=_TEXT)  # noqa: N815
    ecsClusterArn = ma.fields.String(required=True, validate=_TEXT)  # noqa: N815
    waitSeconds = ma.fields.Float(  # noqa: N815
        load_default=0, validate=ma.validate.Range(min=0, max=MAX_WAIT_SECONDS)
    )
    maxJobs = ma.fields.Integer(  # noqa: N815
        load_default=1,
        validate=ma.validate.Range(min=1, max=MAX_CLAIM_JOBS),
        metadata={"description": "Claim up to this many jobs; above 1 the answer is `claims`"},
    )
    capacity = ma.fields.Enum(
        Capacity,
        by_value=True,
        load_default=None,
        metadata={
            "description": "What the worker's task runs on, when it knows (on_demand, spot):"
            " its attempts are priced so (docs/accounting.md). A worker in the cluster"
            " `local` is local whatever it says; none: on-demand"
        },
    )


class ClaimedJob(ma.Schema):
    job = ma.fields.Nested(JobOut)
    assignment = ma.fields.Nested(AssignmentOut)


class ClaimOut(ClaimedJob):
    """``job`` and ``assignment`` for ``maxJobs`` 1; ``claims`` (1 or more) above it."""

    claims = ma.fields.List(ma.fields.Nested(ClaimedJob))


class HeartbeatBody(Strict):
    progress = ma.fields.Float(validate=ma.validate.Range(min=0, max=1), allow_none=True)
    message = ma.fields.String(validate=ma.validate.Length(max=1000), allow_none=True)


class HeartbeatOut(ma.Schema):
    cancelled = ma.fields.Boolean()
    expires_at = UtcDateTime(allow_none=True)


class ResultFields(Strict):
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf([JobStatus.SUCCEEDED, JobStatus.FAILED])
    )
    resultPayload = ma.fields.Raw(allow_none=True, load_default=None)  # noqa: N815
    error = ma.fields.String(validate=ma.validate.Length(max=10_000), allow_none=True)


def next_field() -> ma.fields.Nested:
    """A result's ``next``: the claim to make once the result is recorded."""
    return ma.fields.Nested(
        ClaimBody,
        metadata={
            "description": "Claim the next job(s) in the same request, once the result is"
            " recorded: the claim route's body, answered as `next` the way the claim route"
            " answers (null: nothing within waitSeconds)"
        },
    )


class ResultBody(ResultFields):
    next = next_field()


class ResultNextOut(JobEnvelope):
    next = ma.fields.Nested(ClaimOut, allow_none=True)


class ResultItem(ResultFields):
    assignmentId = ma.fields.Integer(  # noqa: N815
        required=True, strict=True, validate=ma.validate.Range(min=1, max=MAX_ID)
    )


class ResultsBody(Strict):
    results = ma.fields.List(
        ma.fields.Nested(ResultItem),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_RESULTS),
        metadata={"description": f"1 to {MAX_RESULTS} results, each for its own assignment"},
    )
    next = next_field()


class ResultAnswer(ma.Schema):
    assignmentId = ma.fields.Integer()  # noqa: N815
    status = ma.fields.Integer(
        metadata={"description": "The HTTP status the single result route would answer"}
    )
    job = ma.fields.Nested(JobOut, metadata={"description": "Status 200: the finished job"})
    message = ma.fields.String(metadata={"description": "Otherwise: why it was refused"})
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class ResultsOut(ma.Schema):
    results = ma.fields.List(
        ma.fields.Nested(ResultAnswer),
        metadata={"description": "One answer per result, in the order given"},
    )
    next = ma.fields.Nested(ClaimOut, allow_none=True)


class ReleaseBody(Strict):
    error = ma.fields.String(
        validate=ma.validate.Length(min=1, max=10_000),
        metadata={
            "description": "Why the attempt failed outside its handler (its results could "
            "not be stored): the attempt is charged and the job runs again while attempts "
            "remain, else it ends FAILED with this error. Without it no attempt is charged."
        },
    )


class QueueDepthOut(ma.Schema):
    pending = ma.fields.Integer()
    inProgress = ma.fields.Integer()  # noqa: N815


class QueueOut(ma.Schema):
    jobTypes = ma.fields.Dict(  # noqa: N815
        keys=ma.fields.String(), values=ma.fields.Nested(QueueDepthOut)
    )
