"""Researchers' pages: my jobs, one job, cancel."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.enums import JobStatus
from shared.errors import Forbidden, NotFound
from webapi.errors import validation_errors
from webapi.jobs import schemas
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import FAILED, USERS
from webapi.store.dependencies import of_job as dependencies_of
from webapi.store.records import JobRecord
from webapi.ui.files import result_files
from webapi.ui.pages import blp, page, render_page
from webapi.ui.polygon_svg import polygon_svg
from webapi.ui.session import current_session

PAGE_SIZE = 20
# A job's input and result are shown up to this many characters of indented JSON (the
# API has them whole).
SHOWN_CHARS = 50_000
NOTICES = {
    "cached": "An identical job was already submitted: this is that job, and its result is reused.",
    "submitted": "Your job was submitted.",
    "cancelled": "The job was cancelled.",
}


@blp.route("/")
@page(*USERS)
def my_jobs() -> ResponseReturnValue:
    """The viewer's jobs, newest first, by cursor pages, filtered by type and status."""
    args = {key: value for key, value in request.args.items() if value}
    try:
        query = schemas.ListQuery(only=("type", "status", "cursor")).load(args)
    except ma.ValidationError as error:
        return _list_page({}, None, errors=validation_errors(error.messages), status=400)
    page_ = jobs_runtime().reader.list_jobs(
        user_id=current_session().principal.user_id,
        status=query.get("status"),
        job_type=query.get("type"),
        limit=PAGE_SIZE,
        cursor=query.get("cursor"),
    )
    return _list_page(query, page_)


def _list_page(
    query: dict[str, Any],
    page_: Any,
    *,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    status_filter = query.get("status")
    return render_page(
        "jobs.html",
        status,
        jobs=page_.items if page_ else [],
        total=page_.total if page_ else 0,
        next_cursor=page_.next_cursor if page_ else None,
        paged="cursor" in query,
        filters={
            "type": query.get("type", ""),
            "status": status_filter.value if status_filter else "",
        },
        job_types=jobs_runtime().catalogue.names(),
        statuses=[s.value for s in JobStatus],
        errors=errors or {},
    )


def viewable_job(job_id: int) -> JobRecord:
    """The job if the viewer may see it (owner or admin); 404 / 403 otherwise."""
    return _viewable(job_id, jobs_runtime().reader.get(job_id))


def _viewable(job_id: int, job: JobRecord | None) -> JobRecord:
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    if not current_session().principal.can_access(job.user_id):
        raise Forbidden(f"Job {job_id} belongs to another user.")
    return job


@blp.route("/jobs/<int:job_id>")
@page(*USERS)
def job_detail(job_id: int) -> ResponseReturnValue:
    """Input, the attempts as a timeline, progress, error (with the last log lines),
    result and files."""
    runtime = jobs_runtime()
    # Read once: parsing a large input (a polygon of 25,000 vertices) is the loop's time.
    detail = runtime.reader.detail(job_id)
    job = _viewable(job_id, detail.job if detail else None)
    assert detail is not None
    result = next((r for _, r in reversed(detail.attempts) if r is not None), None)
    files = result_files(job, result) if job.status is JobStatus.SUCCEEDED else []
    polygon = job.input_payload.get("polygon") if isinstance(job.input_payload, dict) else None
    return render_page(
        "job.html",
        job=job,
        attempts=detail.attempts,
        result=result,
        files=files,
        pretty=_pretty,
        polygon=polygon_svg(polygon) if polygon is not None else None,
        log_tail=runtime.logs.tail(job_id) if job.status in FAILED else [],
        dependencies=dependencies_of(runtime.queue.engine, job_id),
        notice=NOTICES.get(request.args.get("notice", ""), ""),
    )


@blp.route("/jobs/<int:job_id>/cancel", methods=["POST"])
@page(*USERS)
def cancel_job(job_id: int) -> ResponseReturnValue:
    viewable_job(job_id)
    runtime = jobs_runtime()
    job = runtime.queue.cancel(job_id)
    runtime.metrics.jobs_finished.labels(job.type, job.status.value).inc()
    return redirect(url_for("ui.job_detail", job_id=job_id, notice="cancelled"), code=303)


def _pretty(value: Any) -> str:
    """``value`` as indented JSON, cut after SHOWN_CHARS characters.

    Indented JSON is printed by Python, not C: printed whole, a 25,000-vertex polygon
    would hold the loop for a tenth of a second. Printed lazily, no more is made than shown.
    """
    printer = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False)
    parts, size = [], 0
    for part in printer.iterencode(value):
        parts.append(part)
        size += len(part)
        if size > SHOWN_CHARS:
            return f"{''.join(parts)[:SHOWN_CHARS]}\n… (cut at {SHOWN_CHARS:,} characters)"
    return "".join(parts)
