"""Job types as the routes answer them: the type document plus what the API adds.

Registered types answer their stored document. Built-in and entry-point types answer
the same keys derived from their ``JobTypeSpec``, their marshmallow schemas converted
to JSON Schema by apispec's converter (no ``run``, no ``scaling``: read-only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter

from shared.geojson import GeoJSONPolygon
from shared.jobtypes import JobTypeSpec
from shared.jobtypes.json_schema import JsonSchema
from shared.jobtypes.registry import PayloadSchema
from webapi.jobtypes.catalogue import Registered
from webapi.schemas import utc_iso
from webapi.store.records import JobTypeRevisionRecord


def registered_doc(found: Registered) -> dict[str, Any]:
    record = found.record
    return {
        **found.type.document,
        "revision": record.revision,
        "source": "registered",
        "retired": found.retired,
        "createdAt": utc_iso(record.created_at),
        "updatedAt": utc_iso(record.updated_at),
    }


def revision_doc(found: JobTypeRevisionRecord) -> dict[str, Any]:
    """One stored revision as its document (a worker's run spec for a job of that revision)."""
    return {
        **found.definition,
        "revision": found.revision,
        "source": "registered",
        "createdAt": utc_iso(found.created_at),
        "createdBy": found.created_by,
        "contentHash": found.content_hash,
    }


class FixedDocs:
    """The documents of the built-in and entry-point types, converted once."""

    def __init__(self, started: datetime) -> None:
        self._started = utc_iso(started)
        spec = APISpec("job types", "1", "3.1.0", plugins=[MarshmallowPlugin()])
        self._converter = OpenAPIConverter("3.1.0", lambda schema: None, spec)
        self._converter.map_to_openapi_type(GeoJSONPolygon, "object", None)  # type: ignore[no-untyped-call]
        self._docs: dict[str, dict[str, Any]] = {}

    def doc(self, spec: JobTypeSpec, source: str) -> dict[str, Any]:
        found = self._docs.get(spec.name)
        if found is None:
            found = self._docs[spec.name] = self._convert(spec, source)
        return found

    def _convert(self, spec: JobTypeSpec, source: str) -> dict[str, Any]:
        return {
            "name": spec.name,
            "description": spec.description,
            "inputSchema": self._schema(spec.input_schema),
            "resultSchema": self._schema(spec.result_schema),
            "exampleInput": None if spec.example_input is None else dict(spec.example_input),
            "leaseSeconds": spec.lease_seconds,
            "maxAttempts": spec.max_attempts,
            "maxPlatformRetries": spec.max_platform_retries,
            "timeoutSeconds": spec.timeout_seconds,
            "assignLeaseSeconds": spec.assign_lease_seconds,
            "cacheResults": spec.cache_results,
            "cacheScope": spec.cache_scope,
            "logLimitBytes": spec.log_limit_bytes,
            "scaling": None,
            "run": None,
            "revision": None,
            "source": source,
            "retired": False,
            # Fixed types change only with a deployment: this process's start.
            "createdAt": self._started,
            "updatedAt": self._started,
        }

    def _schema(self, schema: PayloadSchema) -> dict[str, Any]:
        if isinstance(schema, JsonSchema):
            return dict(schema.schema)
        converted: dict[str, Any] = self._converter.schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **converted}
