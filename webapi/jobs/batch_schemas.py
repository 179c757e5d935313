"""Wire schemas of the batch routes: many jobs of one type submitted and followed as one."""

from __future__ import annotations

import marshmallow as ma

from webapi.jobs.dependency_schemas import dependencies_field
from webapi.jobs.schemas import DownloadOut, DownloadQuery, PageQuery, priority_field
from webapi.schemas import Strict, UtcDateTime
from webapi.store.models import MAX_PRIORITY
from webapi.store.queue_batches import MAX_BATCH_INPUTS

_TYPE = ma.validate.Length(min=1, max=64)


class NewBatch(Strict):
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
    """The type and priority of a JSON-lines body (with a JSON body, they go in the body)."""

    type = ma.fields.String(validate=_TYPE)
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


class BatchStatusOut(ma.Schema):
    batch = ma.fields.Nested(BatchOut)
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


class BatchFilesOut(ma.Schema):
    jobs = ma.fields.List(
        ma.fields.Nested(DownloadOut),
        metadata={"description": "One per input, in input order; files only of SUCCEEDED jobs"},
    )
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815
