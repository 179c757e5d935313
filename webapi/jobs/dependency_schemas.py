"""Wire schemas of dependencies: what a job waits for, as submitted and as it stands."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from shared.enums import DependencyCondition
from webapi.schemas import Strict
from webapi.store.dependencies import MAX_DEPENDENCIES, Dependency
from webapi.store.queue_reads import MAX_ID

_ID = ma.validate.Range(min=1, max=MAX_ID)
_CONDITIONS = [c.value for c in DependencyCondition]
CONDITION_DOC = (
    "afterok (the default): every job of the parent succeeded; afterany: every job of it"
    " ended; afternotok: every job of it ended and at least one did not succeed"
)


class DependencyIn(Strict):
    job = ma.fields.Integer(strict=True, validate=_ID, metadata={"description": "A job's id"})
    batch = ma.fields.Integer(
        strict=True,
        validate=_ID,
        metadata={"description": "A batch's id: its every job counts"},
    )
    condition = ma.fields.String(
        load_default=DependencyCondition.AFTEROK.value,
        validate=ma.validate.OneOf(_CONDITIONS),
        metadata={"description": CONDITION_DOC},
    )

    @ma.validates_schema
    def _one_parent(self, data: dict[str, Any], **_: Any) -> None:
        if ("job" in data) == ("batch" in data):
            raise ma.ValidationError("Give job or batch, not both.", "job")

    @ma.post_load
    def _dependency(self, data: dict[str, Any], **_: Any) -> Dependency:
        return Dependency(
            DependencyCondition(data["condition"]), data.get("job"), data.get("batch")
        )


def dependencies_field() -> ma.fields.List[Any]:
    return ma.fields.List(
        ma.fields.Nested(DependencyIn),
        load_default=list,
        validate=ma.validate.Length(max=MAX_DEPENDENCIES),
        metadata={
            "description": "Jobs or batches this waits for (existing, and readable by you):"
            " it is WAITING until every condition is met (then PENDING), and CANCELLED,"
            " naming the parent, when one never can be"
        },
    )


class DependencyOut(ma.Schema):
    job = ma.fields.Integer(attribute="job_id", allow_none=True)
    batch = ma.fields.Integer(attribute="batch_id", allow_none=True)
    condition = ma.fields.String()
    status = ma.fields.String(
        allow_none=True, metadata={"description": "A job parent's status (null for a batch)"}
    )
    size = ma.fields.Integer(allow_none=True, metadata={"description": "A batch's inputs"})
    ended = ma.fields.Integer(
        allow_none=True, metadata={"description": "A batch's inputs whose job ended"}
    )
    succeeded = ma.fields.Integer(
        allow_none=True, metadata={"description": "A batch's inputs whose job succeeded"}
    )
