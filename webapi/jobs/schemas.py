"""Wire schemas of the jobs routes: camelCase bodies in, the seed's snake_case records out."""

from __future__ import annotations

import itertools
from typing import Any

import marshmallow as ma

from shared.db.models import MAX_PRIORITY
from shared.enums import JobStatus
from webapi.schemas import Strict, UtcDateTime

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


class AssignmentWithResult(AssignmentOut):
    result = ma.fields.Nested(ResultOut, allow_none=True)


class LogLineOut(ma.Schema):
    attempt = ma.fields.Integer()
    seq = ma.fields.Integer()
    time = ma.fields.String()
    level = ma.fields.String()
    stream = ma.fields.String(
        metadata={"description": "log, stdout, stderr; `shoal` for a marker of cut lines"}
    )
    message = ma.fields.String()


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


class JobEnvelope(ma.Schema):
    job = ma.fields.Nested(JobOut)


class JobDetailEnvelope(ma.Schema):
    job = ma.fields.Nested(JobDetailOut)


class JobsPage(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(JobOut))
    total = ma.fields.Integer()
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


class NewJob(Strict):
    type = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    inputPayload = ma.fields.Dict(required=True)  # noqa: N815 - checked by the type's schema
    priority = priority_field()


class Created(ma.Schema):
    jobId = ma.fields.Integer()  # noqa: N815
    cached = ma.fields.Boolean()
    requestId = ma.fields.Integer()  # noqa: N815


class ListQuery(Strict):
    status = ma.fields.Enum(JobStatus, by_value=True)
    type = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    # users.id is a PostgreSQL integer: a larger id names no one, and must not reach SQL.
    userId = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))  # noqa: N815
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


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


class ResultBody(Strict):
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf([JobStatus.SUCCEEDED, JobStatus.FAILED])
    )
    resultPayload = ma.fields.Raw(allow_none=True, load_default=None)  # noqa: N815
    error = ma.fields.String(validate=ma.validate.Length(max=10_000), allow_none=True)


class QueueDepthOut(ma.Schema):
    pending = ma.fields.Integer()
    inProgress = ma.fields.Integer()  # noqa: N815


class QueueOut(ma.Schema):
    jobTypes = ma.fields.Dict(  # noqa: N815
        keys=ma.fields.String(), values=ma.fields.Nested(QueueDepthOut)
    )


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_STREAMS = ("log", "stdout", "stderr")
MAX_LOG_LINES = 1000
MAX_LOG_MESSAGE = 16 * 1024
MAX_LOG_BATCH_BYTES = 1024 * 1024
_COUNT = ma.validate.Range(min=0, max=2**53)


class LogLineIn(Strict):
    seq = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(min=0, max=2**62)
    )
    time = ma.fields.DateTime(
        required=True, metadata={"description": "ISO 8601; without a zone it is UTC"}
    )
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LOG_LEVELS))
    stream = ma.fields.String(required=True, validate=ma.validate.OneOf(LOG_STREAMS))
    message = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=MAX_LOG_MESSAGE),
        metadata={"description": f"At most {MAX_LOG_MESSAGE} characters: truncate before"},
    )


class DroppedIn(Strict):
    lines = ma.fields.Integer(required=True, strict=True, validate=_COUNT)
    bytes_ = ma.fields.Integer(required=True, strict=True, validate=_COUNT, data_key="bytes")


class LogsBody(Strict):
    lines = ma.fields.List(
        ma.fields.Nested(LogLineIn),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_LOG_LINES),
        metadata={"description": "In increasing seq order (seq counts per attempt, from 0)"},
    )
    dropped = ma.fields.Nested(
        DroppedIn,
        metadata={"description": "What the worker dropped since its last batch (not shipped)"},
    )

    @ma.validates_schema
    def _ordered_and_small(self, data: dict[str, Any], **kwargs: Any) -> None:
        seqs = [line["seq"] for line in data["lines"]]
        if any(a >= b for a, b in itertools.pairwise(seqs)):
            raise ma.ValidationError("seq must increase from line to line", "lines")
        size = sum(len(line["message"].encode()) for line in data["lines"])
        if size > MAX_LOG_BATCH_BYTES:
            raise ma.ValidationError(
                f"the messages hold {size} bytes, more than {MAX_LOG_BATCH_BYTES} in one batch",
                "lines",
            )


class LogsStored(ma.Schema):
    stored = ma.fields.Integer(metadata={"description": "Lines stored (0: a retried batch)"})
    cut = ma.fields.Boolean(
        metadata={"description": "The attempt's log went over its limit: its oldest lines are cut"}
    )


class LogsQuery(Strict):
    attempt = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))
    after = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "The `next` of the page before (or its X-Next-Cursor header)"},
    )
    limit = ma.fields.Integer(load_default=1000, validate=ma.validate.Range(min=1, max=10_000))
    format = ma.fields.String(
        load_default="json", validate=ma.validate.OneOf(("json", "jsonl", "text"))
    )


class LogsPage(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(LogLineOut))
    next = ma.fields.String(allow_none=True)
