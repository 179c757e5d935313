"""Batches (ANALYST or ADMIN): many jobs of one type submitted in one request."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request
from webargs import core
from webargs.flaskparser import is_json_request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from shared.errors import Forbidden, InvalidInput, NotFound, TooLarge
from webapi.auth import Principal, current_principal, require_roles
from webapi.blueprint import Blueprint, refuse_cut_off, unstorable_fields
from webapi.errors import validation_errors, validation_message
from webapi.jobs import batch_schemas as schemas
from webapi.jobs.archive import zip_stream
from webapi.jobs.dependencies import readable
from webapi.jobs.download_routes import job_files
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.schemas import PageQuery, labels_of
from webapi.jobs.user_routes import IDEMPOTENCY_DOC, REPLAYED, USERS, idempotency_key
from webapi.jobtypes.catalogue import Snapshot
from webapi.offload import in_child
from webapi.services import services
from webapi.store import usage
from webapi.store.dependencies import Dependency
from webapi.store.queue_batches import BatchCancelled, Batches, BatchStatus, CheckedBatch
from webapi.store.queue_reads import MAX_ID, decode_cursor, page_of
from webapi.store.records import BatchRecord
from webapi.usage.wire import usage_wire

blp = Blueprint(
    "batches",
    __name__,
    url_prefix="/api/jobs",
    description="Batches: many jobs of one type in one request",
)
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
# JSON lines are described, not listed as a second media type: an operation with two
# lets clients (and schemathesis) not tell which one to send.
_BODY_DOC = {
    "required": True,
    "description": "JSON, or JSON lines (one input per line, Content-Type "
    "application/x-ndjson) with the type in the query string.",
    "content": {"application/json": {"schema": schemas.NewBatch}},
}


@blp.route("/batch", methods=["POST"])
@require_roles(*USERS)
@blp.arguments(schemas.BatchQuery, location="query")
@blp.doc(requestBody=_BODY_DOC, **IDEMPOTENCY_DOC)
@blp.errors(400, 403, 404, 409, 413, 429)
@blp.response(201, schemas.BatchCreated)
def submit_batch(query: dict[str, Any]) -> Any:
    """Submit up to 10,000 jobs of one type: all of them, or (a bad input) none.

    Each input is checked against the type's schema (a bad one is named in the message
    counted from 1, ``input 2``, and in ``errors`` by its index in the body, from 0,
    ``inputs[1].field``) and answered by the result cache like a single submission; two
    identical inputs share one job. ``jobIds`` follow the inputs' order. The body may
    be up to ``SHOAL_MAX_BATCH_BODY_BYTES``. 429 (nothing created) when its new jobs
    would take you past your max PENDING jobs (``maxPending``). With
    ``Idempotency-Key``, a retry gets the first answer and creates nothing. With
    ``dependencies`` (JSON body only) every job of it is new and WAITING until they are
    met; a parent that does not exist is a 404, one you may not read a 403.
    """
    runtime = jobs_runtime()
    _read_body(runtime.settings.max_batch_body_bytes)
    body = request.get_data(cache=True)
    if request.mimetype not in JSON_LINES and not is_json_request(request) and body:
        raise UnsupportedMediaType()  # as webargs would, here: the child answers 400s only
    types = runtime.catalogue.snapshot()  # as of now: the child cannot reload it
    limit = runtime.settings.batch_check_seconds
    try:
        checked, dependencies = in_child(_checked, query, types, limit=limit)
    except TimeoutError:
        raise InvalidInput(
            f"Checking the batch's inputs took more than {limit:g} s (SHOAL_BATCH_CHECK_SECONDS;"
            " a pattern of the type's schema that backtracks?); nothing was created",
            errors={"inputs": [f"Not checked within {limit:g} s."]},
        ) from None
    created = runtime.batches.create_checked(
        user_id=current_principal().user_id,
        checked=checked,
        idempotency_key=idempotency_key(),
        dependencies=readable(dependencies),
    )
    answer = {
        "batchId": created.batch.id,
        "jobIds": created.job_ids,
        "cached": created.cached,
        "created": created.created,
    }
    return (answer, REPLAYED) if created.replayed else answer


def _read_body(limit: int) -> None:
    """Read (and keep) the body, up to the batch limit; past it, a 413 that names it."""
    request.max_content_length = limit
    try:
        refuse_cut_off(request, request.get_data(cache=True))
    except RequestEntityTooLarge:
        raise TooLarge(
            f"A batch body may be at most {limit:,} bytes (SHOAL_MAX_BATCH_BODY_BYTES);"
            " split the sweep into several batches"
        ) from None


def _checked(query: dict[str, Any], types: Snapshot) -> tuple[CheckedBatch, list[Dependency]]:
    """The body parsed and every input checked: seconds of pure Python for a large batch,
    so the route runs this in a forked child, which answers with JSON text (and frees
    the parsed body when it exits)."""
    try:
        body = _batch_body(query)
    except HTTPException as error:  # webargs: a JSON body it could not parse or load
        messages = (getattr(error, "data", None) or {}).get("messages")
        if not messages:
            raise
        errors = validation_errors(messages)
        raise InvalidInput(validation_message(errors), errors=errors) from None
    checked = Batches.check(
        types,
        job_type=body["type"],
        inputs=body["inputs"],
        priority=body["priority"],
        labels=labels_of(body),
        use_cache=not body["noCache"],
    )
    return checked, body.get("dependencies", [])


def _batch_body(query: dict[str, Any]) -> dict[str, Any]:
    """``{type, inputs, priority, name}`` from a JSON body, or from JSON lines and the
    query string."""
    if request.mimetype not in JSON_LINES:
        given = {"type", "priority", "name"} & set(request.args)
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
    if query["name"] is not None:
        raw["name"] = query["name"]
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
    inputs: list[Any] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            inputs.append(core.parse_json(line))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
            raise InvalidInput(
                f"input {len(inputs) + 1} (line {number}) is not valid JSON; nothing was created",
                errors={f"inputs[{len(inputs)}]": ["Not valid JSON."]},
            ) from None
    return inputs


@blp.route("/batches")
@require_roles(*USERS)
@blp.arguments(PageQuery, location="query")
@blp.response(200, schemas.BatchesPage)
def batches(query: dict[str, Any]) -> dict[str, Any]:
    """The caller's batches, newest first."""
    page = jobs_runtime().batches.mine(
        current_principal().user_id, limit=query["limit"], cursor=query.get("cursor")
    )
    return {"batches": page.items, "nextCursor": page.next_cursor}


@blp.route("/batches/<int:batch_id>")
@require_roles(*USERS)
@blp.errors(404)
@blp.response(200, schemas.BatchStatusOut)
def batch(batch_id: int) -> dict[str, Any]:
    """A batch's jobs counted by status (per input), the fraction finished, the mean
    progress (a finished job counting 1), the jobs running and an ETA from the jobs' own
    run times, and what its jobs used and cost so far (``usage``). Its creator's or an
    admin's."""
    found = _status(jobs_runtime().batches.status(_own_batch(batch_id)))
    with services().engine.connect() as conn:
        found["usage"] = usage_wire(usage.batch_usage(conn, batch_id))
    return found


@blp.route("/batches/<int:batch_id>/cancel", methods=["POST"])
@require_roles(*USERS)
@blp.errors(404)
@blp.response(200, schemas.BatchCancelled)
def cancel_batch(batch_id: int) -> dict[str, Any]:
    """Cancel the batch's WAITING, PENDING and IN_PROGRESS jobs; finished ones stay as
    they are. The WAITING jobs downstream of it are cancelled too (``cancelledDependents``).

    Only jobs the caller may cancel (created them, or is an admin): a cache hit on
    another user's job is left running. Answers the count cancelled and the new status.
    """
    found = _own_batch(batch_id)
    cancelled = cancel_live(found, current_principal())
    status = _status(jobs_runtime().batches.status(found))
    total = sum(cancelled.by_type.values())
    return {**status, "cancelled": total, "cancelledDependents": cancelled.dependents}


def cancel_live(batch: BatchRecord, principal: Principal) -> BatchCancelled:
    """Cancel the batch's live jobs ``principal`` may cancel (created them, or is an
    admin), and the WAITING jobs downstream of it, counted in the metrics."""
    runtime = jobs_runtime()
    creator = None if principal.is_admin else principal.user_id
    cancelled = runtime.batches.cancel(batch.id, creator=creator)
    for job_type, n in cancelled.by_type.items():
        runtime.metrics.jobs_finished.labels(job_type, "CANCELLED").inc(n)
    return cancelled


@blp.route("/batches/<int:batch_id>/download")
@require_roles(*USERS)
@blp.arguments(schemas.BatchDownloadQuery, location="query")
@blp.errors(400, 404)
@blp.response(200, schemas.BatchFilesOut)
def download_batch(query: dict[str, Any], batch_id: int) -> dict[str, Any]:
    """Links to the result files of the batch's jobs, one entry per input in input order,
    ``limit`` at a time (``nextCursor``); a job that has not SUCCEEDED has no files."""
    _own_batch(batch_id)
    page = jobs_runtime().batches.jobs(batch_id, limit=query["limit"], cursor=query.get("cursor"))
    jobs = [
        {
            "job": member.job,
            "input_index": member.input_index,
            "files": job_files(member.job, query),
        }
        for member in page.items
    ]
    return {"jobs": jobs, "nextCursor": page.next_cursor}


@blp.route("/batches/<int:batch_id>/archive")
@require_roles(*USERS)
@blp.errors(404)
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip")
def batch_archive(batch_id: int) -> Response:
    """Every result file of the batch's SUCCEEDED inputs as one zip, streamed as it is
    written: ``<input index>/<file>`` (an input from 1; two inputs answered by one job
    each get its files). Files are stored uncompressed."""
    return archive_response(_own_batch(batch_id))


def archive_response(batch: BatchRecord) -> Response:
    """The batch's results as one zip, streamed (``webapi.jobs.archive``)."""
    runtime = jobs_runtime()
    stream = zip_stream(runtime.batches.results(batch.id), runtime.storage)
    disposition = f'attachment; filename="batch-{batch.id}.zip"'
    return Response(
        stream, mimetype="application/zip", headers={"Content-Disposition": disposition}
    )


@blp.route("/batches/<int:batch_id>/failed")
@require_roles(*USERS)
@blp.arguments(PageQuery, location="query")
@blp.errors(400, 404)
@blp.response(200, schemas.FailedInputsOut)
def failed_inputs(query: dict[str, Any], batch_id: int) -> dict[str, Any]:
    """The batch's inputs whose job FAILED or TIMED_OUT, in input order, each with its
    input index (from 1), job id and error; ``limit`` at a time (``nextCursor``)."""
    _own_batch(batch_id)
    after = decode_cursor(query.get("cursor"))
    limit = query["limit"]
    found = jobs_runtime().batches.failed(batch_id, limit=limit + 1, after=after)
    page = page_of(found, limit, lambda member: member.input_index)
    return {"failed": page.items, "nextCursor": page.next_cursor}


def _own_batch(batch_id: int) -> BatchRecord:
    return visible_batch(batch_id, current_principal())


def visible_batch(batch_id: int, principal: Principal) -> BatchRecord:
    """The batch, if ``principal`` created it or is an admin (403 otherwise, as for jobs)."""
    found = jobs_runtime().batches.get(batch_id) if batch_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"Batch {batch_id} not found")
    if not principal.can_access(found.user_id):
        raise Forbidden(f"Batch {batch_id} belongs to another user")
    return found


def _status(status: BatchStatus) -> dict[str, Any]:
    return {
        "batch": status.batch,
        "counts": {s.value: n for s, n in status.counts.items()},
        "deleted": status.deleted,
        "finished": status.finished,
        "progress": status.progress,
        "running": status.running,
        "mean_run_seconds": status.mean_run_seconds,
        "eta_seconds": status.eta_seconds,
    }
