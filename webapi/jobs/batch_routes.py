"""Batches (ANALYST or ADMIN): many jobs of one type submitted in one request."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from webargs import core

from shared.errors import InvalidInput
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint, refuse_cut_off, unstorable_fields
from webapi.errors import validation_errors, validation_message
from webapi.jobs import batch_schemas as schemas
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS, blp

JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
_BODY_DOC = {
    "required": True,
    "description": "JSON, or JSON lines (one input per line, Content-Type "
    "application/x-ndjson) with the type in the query string.",
    "content": {"application/json": {"schema": schemas.NewBatch}},
}


@blp.route("/batch", methods=["POST"])
@require_roles(*USERS)
@blp.arguments(schemas.BatchQuery, location="query")
@blp.doc(requestBody=_BODY_DOC)
@blp.errors(400, 413, 429)
@blp.response(201, schemas.BatchCreated)
def submit_batch(query: dict[str, Any]) -> Any:
    """Submit up to 10,000 jobs of one type: all of them, or (a bad input) none.

    Each input is checked against the type's schema (a bad one is named by index,
    ``inputs[i]``) and answered by the result cache like a single submission; two
    identical inputs share one job. ``jobIds`` follow the inputs' order. The body may
    be up to ``SHOAL_MAX_BATCH_BODY_BYTES``. 429 (nothing created) when its new jobs
    would take you past your max PENDING jobs (``maxPending``).
    """
    runtime = jobs_runtime()
    request.max_content_length = runtime.settings.max_batch_body_bytes
    body = _batch_body(query)
    created = runtime.batches.create(
        user_id=current_principal().user_id,
        job_type=body["type"],
        inputs=body["inputs"],
        priority=body["priority"],
    )
    return {
        "batchId": created.batch.id,
        "jobIds": created.job_ids,
        "cached": created.cached,
        "created": created.created,
    }


def _batch_body(query: dict[str, Any]) -> dict[str, Any]:
    """``{type, inputs}`` from a JSON body, or from JSON lines and the query's type."""
    if request.mimetype not in JSON_LINES:
        given = {"type", "priority"} & set(request.args)
        if given:
            name = sorted(given)[0]
            raise InvalidInput(
                f"{name} goes in the query string only with a JSON-lines body",
                errors={name: ["Give it in the JSON body."]},
            )
        parsed: dict[str, Any] = Blueprint.ARGUMENTS_PARSER.parse(
            schemas.NewBatch(), request, location="json"
        )
        return parsed
    if "type" not in query:
        raise InvalidInput(
            "A JSON-lines body needs the job type in the query string (?type=...)",
            errors={"type": ["Missing data for required field."]},
        )
    raw = {"type": query["type"], "priority": query["priority"], "inputs": _json_lines()}
    errors = unstorable_fields(raw)
    if not errors:
        try:
            loaded: dict[str, Any] = schemas.NewBatch().load(raw)
        except ma.ValidationError as error:
            errors = validation_errors(error.messages)
        else:
            return loaded
    raise InvalidInput(validation_message(errors), errors=errors)


def _json_lines() -> list[Any]:
    """The body's lines, each one JSON value; blank lines are skipped."""
    data = request.get_data(cache=True)
    refuse_cut_off(request, data)
    inputs: list[Any] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            inputs.append(core.parse_json(line))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
            name = f"inputs[{len(inputs)}]"
            raise InvalidInput(
                f"{name} (line {number}) is not valid JSON; nothing was created",
                errors={name: ["Not valid JSON."]},
            ) from None
    return inputs
