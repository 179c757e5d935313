"""Wire schemas of the workflow routes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from shared.enums import DependencyCondition
from webapi.jobs.dependency_schemas import CONDITION_DOC
from webapi.jobs.schemas import PageQuery, priority_field
from webapi.schemas import Strict, UtcDateTime
from webapi.store.queue_batches import MAX_BATCH_INPUTS
from webapi.store.workflows import MAX_STEPS
from webapi.usage.wire import UsageOut

_NAME = ma.validate.Length(min=1, max=64)


class StepIn(Strict):
    name = ma.fields.String(required=True, validate=_NAME)
    type = ma.fields.String(required=True, validate=_NAME)
    input = ma.fields.Dict(metadata={"description": "A job step's input"})
    inputs = ma.fields.List(
        ma.fields.Raw(metadata={"type": "object"}),
        validate=ma.validate.Length(min=1, max=MAX_BATCH_INPUTS),
        metadata={"description": "A sweep step's inputs: a batch of its type"},
    )
    after = ma.fields.Dict(
        keys=ma.fields.String(validate=_NAME),
        values=ma.fields.String(validate=ma.validate.OneOf([c.value for c in DependencyCondition])),
        load_default=dict,
        metadata={
            "description": f"Steps it waits for, by name, each with a condition: {CONDITION_DOC}"
        },
    )

    @ma.validates_schema
    def _job_or_sweep(self, data: dict[str, Any], **_: Any) -> None:
        if ("input" in data) == ("inputs" in data):
            raise ma.ValidationError("Give input (a job) or inputs (a sweep), not both.", "input")


class NewWorkflow(Strict):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    steps = ma.fields.List(
        ma.fields.Nested(StepIn),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_STEPS),
        metadata={
            "description": 'Named steps; an input may take {"$from": {"step": NAME}}'
            ' (with "file" for one file of a job step) from a step it waits for'
        },
    )
    priority = priority_field()


class StepOut(ma.Schema):
    name = ma.fields.String()
    type = ma.fields.String()
    after = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    jobId = ma.fields.Integer(attribute="job_id", allow_none=True)  # noqa: N815 - wire name
    batchId = ma.fields.Integer(attribute="batch_id", allow_none=True)  # noqa: N815
    status = ma.fields.String(
        allow_none=True, metadata={"description": "A sweep's: one status for its jobs"}
    )
    counts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        allow_none=True,
        metadata={"description": "A sweep's inputs per status"},
    )


class WorkflowOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    user_id = ma.fields.Integer()
    created_at = UtcDateTime()
    status = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "WAITING, PENDING or IN_PROGRESS while a step is live; then"
            " SUCCEEDED if every step did, FAILED if one failed, else CANCELLED"
        },
    )
    steps = ma.fields.List(ma.fields.Nested(StepOut))


class WorkflowDetailOut(WorkflowOut):
    usage = ma.fields.Nested(
        UsageOut, metadata={"description": "What its jobs used and cost so far"}
    )


class WorkflowEnvelope(ma.Schema):
    workflow = ma.fields.Nested(WorkflowDetailOut)


class WorkflowsPage(ma.Schema):
    workflows = ma.fields.List(ma.fields.Nested(WorkflowOut))
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815 - wire name


class WorkflowsQuery(PageQuery):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=50))
