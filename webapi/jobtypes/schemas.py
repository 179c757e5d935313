"""Wire schemas of /api/job-types: the type document (camelCase), in and out."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from webapi.schemas import Strict

_SCHEMA = {"description": "JSON Schema, Draft 2020-12 (at most 64 KiB, 32 levels, local $refs)"}


def _doc_fields() -> dict[str, ma.fields.Field[Any]]:
    """The document's keys, described; a PUT's body is checked by RegisteredType.from_wire."""
    return {
        "name": ma.fields.String(metadata={"description": "^[A-Z][A-Z0-9_]{0,63}$"}),
        "description": ma.fields.String(),
        "inputSchema": ma.fields.Dict(metadata=_SCHEMA),
        "resultSchema": ma.fields.Dict(allow_none=True, metadata=_SCHEMA),
        "exampleInput": ma.fields.Dict(
            allow_none=True, metadata={"description": "An input inputSchema accepts"}
        ),
        "leaseSeconds": ma.fields.Integer(),
        "maxAttempts": ma.fields.Integer(),
        "maxPlatformRetries": ma.fields.Integer(
            metadata={"description": "Attempts lost to the platform not counted, per job"}
        ),
        "timeoutSeconds": ma.fields.Integer(),
        "assignLeaseSeconds": ma.fields.Integer(),
        "cacheResults": ma.fields.Boolean(),
        "cacheScope": ma.fields.String(metadata={"description": "global or user"}),
        "logLimitBytes": ma.fields.Integer(allow_none=True),
        "scaling": ma.fields.Dict(
            allow_none=True,
            metadata={"description": "min, max, cooldownSeconds, sensitivity, factor"},
        ),
        "run": ma.fields.Dict(
            allow_none=True,
            metadata={
                "description": "command (argv list), image, environment (plain values),"
                " secrets (name: ARN), cpu, memory, stopGraceSeconds; absent: run by"
                " external workers"
            },
        ),
    }


class _Open(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE


# A PUT's body: the document, taken whole and checked by RegisteredType.from_wire (the
# keys an answer adds are taken and ignored).
JobTypeBody = _Open.from_dict(
    {key: ma.fields.Raw(metadata=f.metadata, allow_none=True) for key, f in _doc_fields().items()},
    name="JobTypeBody",
)

JobTypeOut = ma.Schema.from_dict(
    {
        **_doc_fields(),
        "revision": ma.fields.Integer(
            allow_none=True, metadata={"description": "1 for the first PUT; null: not registered"}
        ),
        "source": ma.fields.String(metadata={"description": "registered, builtin or plugin"}),
        "retired": ma.fields.Boolean(),
        "createdAt": ma.fields.String(),
        "updatedAt": ma.fields.String(),
    },
    name="JobTypeOut",
)


class JobTypesOut(ma.Schema):
    jobTypes = ma.fields.List(ma.fields.Nested(JobTypeOut))  # noqa: N815


class ListQuery(Strict):
    retired = ma.fields.Boolean(
        load_default=False, metadata={"description": "Also list retired types"}
    )


class RevisionOut(ma.Schema):
    revision = ma.fields.Integer()
    createdAt = ma.fields.String()  # noqa: N815
    createdBy = ma.fields.Integer(  # noqa: N815
        allow_none=True, metadata={"description": "The admin's user id (null once deleted)"}
    )
    contentHash = ma.fields.String()  # noqa: N815


class RevisionsOut(ma.Schema):
    revisions = ma.fields.List(ma.fields.Nested(RevisionOut))


RevisionDocOut = JobTypeOut.from_dict(
    {"createdBy": ma.fields.Integer(allow_none=True), "contentHash": ma.fields.String()},
    name="RevisionDocOut",
)
