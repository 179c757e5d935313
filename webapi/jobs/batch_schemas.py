"""Wire schemas of the batch routes: many jobs of one type submitted and followed as one."""

from __future__ import annotations

import marshmallow as ma

from webapi.jobs.dependency_schemas import dependencies_field
from webapi.jobs.schemas import (
    DownloadOut,
    DownloadQuery,
    LabelFields,
    PageQuery,
    priority_field,
)
from webapi.schemas import Strict, UtcDateTime
from webapi.store.models import MAX_BATCH_NAME, MAX_PRIORITY
from webapi.store.queue_batches import MAX_BATCH_INPUTS
from webapi.usage.wire import UsageOut

_TYPE = ma.validate.Length(min=1, max=64)


def _name_field() -> ma.fields.String:
    return ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(min=1, max=MAX_BATCH_NAME),
        metadata={"description": f"The batch's name, for people (1–{MAX_BATCH_NAME} characters)"},
    )


class NewBatch(Strict, LabelFields):
    """``name``, ``tags`` and ``noCache`` apply to every job of the batch; ``name`` is also
    the batch's own (with a JSON-lines body, ``name`` may be in the query string)."""

    type = ma.fields.String(required=True, validate=_TYPE)
    inputs = ma.fields.List(
        # Checked one by one against the type's schema, each bad one named ``inputs[i]``.
        ma.fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BATCH_INPUTS),
        metadata={"description": "Input payloads, each checked against the type's schema"},
    )
    priority = priority_field()
    dependencies = dependencies_field()


class BatchQuery(Strict):
    """The type, priority and name of a JSON-lines body (with a JSON body, they go in it)."""

    type = ma.fields.String(validate=_TYPE)
    name = _name_field()
    priority = ma.fields.Integer(  # a query string's text, so not strict
        load_default=0, validate=ma.validate.Range(min=-MAX_PRIORITY, max=MAX_PRIORITY)
    )


class BatchCreated(ma.Schema):
    batchId = ma.fields.Integer()  # noqa: N815 - wire name
    jobIds = ma.fields.List(  # noqa: N815
        ma.fields.Integer(), metadata={"description": "One per input, in input order"}
    )
    cached = ma.fields.List(
        ma.fields.Boolean(),
        metadata={"description": "Per input: answered by an existing job or an earlier input"},
    )
    created = ma.fields.Integer(metadata={"description": "How many new jobs were created"})


class BatchOut(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    type = ma.fields.String()
    size = ma.fields.Integer(metadata={"description": "How many inputs it had"})
    created_at = UtcDateTime()
    name = ma.fields.String(allow_none=True, metadata={"description": "null if not given one"})


class BatchStatusOut(ma.Schema):
    batch = ma.fields.Nested(BatchOut)
    usage = ma.fields.Nested(
        UsageOut,
        metadata={
            "description": "What the jobs it created used and cost so far (running ones to"
            " now); a job the result cache handed it is counted where it was created"
        },
    )
    counts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "Inputs per status of their job (every status)"},
    )
    deleted = ma.fields.Integer(
        metadata={"description": "Inputs whose job was deleted since it finished (pruned)"}
    )
    finished = ma.fields.Float(metadata={"description": "The fraction of inputs finished, 0–1"})
    progress = ma.fields.Float(
        metadata={"description": "The mean progress of the inputs, a finished one counting 1"}
    )
    running = ma.fields.Integer(metadata={"description": "Its jobs IN_PROGRESS now"})
    meanRunSeconds = ma.fields.Float(  # noqa: N815 - wire name
        attribute="mean_run_seconds",
        allow_none=True,
        metadata={
            "description": "The mean run time (start to end) of its jobs that ended, cancelled"
            " ones aside; null before one has"
        },
    )
    etaSeconds = ma.fields.Float(  # noqa: N815
        attribute="eta_seconds",
        allow_none=True,
        metadata={
            "description": "Seconds until its jobs have ended, estimated from their own run"
            " times: meanRunSeconds × the jobs PENDING or IN_PROGRESS ÷ the jobs IN_PROGRESS"
            " now. 0 when none is left; null when it cannot be told (no job ended yet, or"
            " none is running)"
        },
    )


class BatchCancelled(BatchStatusOut):
    cancelled = ma.fields.Integer(metadata={"description": "How many jobs this cancelled"})
    cancelledDependents = ma.fields.Integer(  # noqa: N815 - wire name
        metadata={"description": "WAITING jobs downstream of the batch cancelled with it"}
    )


class BatchesPage(ma.Schema):
    batches = ma.fields.List(ma.fields.Nested(BatchOut))
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815


class BatchDownloadQuery(DownloadQuery, PageQuery):
    pass


_INPUT_INDEX = {
    "description": "The input's place in the batch, from 1: its line of a JSON-lines body,"
    " blank lines not counted"
}


class BatchDownloadOut(DownloadOut):
    inputIndex = ma.fields.Integer(attribute="input_index", metadata=_INPUT_INDEX)  # noqa: N815


class BatchFilesOut(ma.Schema):
    jobs = ma.fields.List(
        ma.fields.Nested(BatchDownloadOut),
        metadata={"description": "One per input, in input order; files only of SUCCEEDED jobs"},
    )
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815


class FailedInputOut(ma.Schema):
    inputIndex = ma.fields.Integer(attribute="input_index", metadata=_INPUT_INDEX)  # noqa: N815
    jobId = ma.fields.Integer(attribute="job.id")  # noqa: N815
    status = ma.fields.String(
        attribute="job.status.value", metadata={"description": "FAILED or TIMED_OUT"}
    )
    error = ma.fields.String(attribute="job.error_message", allow_none=True)
    finishedAt = UtcDateTime(attribute="job.finished_at", allow_none=True)  # noqa: N815


class FailedInputsOut(ma.Schema):
    failed = ma.fields.List(
        ma.fields.Nested(FailedInputOut),
        metadata={"description": "In input order"},
    )
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815
