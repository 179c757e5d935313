"""Researchers' pages: one job, cancel (the list is webapi/ui/job_list.py)."""

from __future__ import annotations

import json
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.durations import human_duration
from shared.enums import JobStatus
from shared.errors import Forbidden, NotFound
from webapi.jobs.access import check_visible
from webapi.jobs.pending import pending_reason
from webapi.jobs.run_time import run_seconds
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import FAILED, USERS
from webapi.store.dependencies import of_job as dependencies_of
from webapi.store.records import JobRecord
from webapi.ui.files import result_files
from webapi.ui.pages import blp, page, render_page
from webapi.ui.polygon_svg import polygon_svg
from webapi.ui.session import current_session
from webapi.ui.usage_data import job_usage

# A job's input and result are shown up to this many characters of indented JSON (the
# API has them whole).
SHOWN_CHARS = 50_000
NOTICES = {
    "cached": "An identical job was already submitted: this is that job, and its result is reused.",
    "submitted": "Your job was submitted.",
    "cancelled": "The job was cancelled.",
}


def viewable_job(job_id: int) -> JobRecord:
    """The job if the viewer may see it (owner, admin, or one of their requests reused
    it); 404 / 403 otherwise."""
    return _viewable(job_id, jobs_runtime().reader.get(job_id))


def _viewable(job_id: int, job: JobRecord | None) -> JobRecord:
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    check_visible(current_session().principal, job)
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
    usage, attempt_usage = job_usage(job_id, [a for a, _ in detail.attempts])
    return render_page(
        "job.html",
        job=job,
        attempts=detail.attempts,
        result=result,
        files=files,
        pretty=_pretty,
        polygon=polygon_svg(polygon) if polygon is not None else None,
        log_tail=runtime.logs.tail(job_id) if job.status in FAILED else [],
        can_cancel=current_session().principal.can_access(job.user_id),
        run_seconds=run_seconds(job),
        pending=pending_reason(job),
        human_duration=human_duration,
        dependencies=dependencies_of(runtime.queue.engine, job_id),
        notice=NOTICES.get(request.args.get("notice", ""), ""),
        batch=runtime.batches.of_job(job_id),
        usage=usage,
        attempt_usage=attempt_usage,
    )


@blp.route("/jobs/<int:job_id>/cancel", methods=["POST"])
@page(*USERS)
def cancel_job(job_id: int) -> ResponseReturnValue:
    job = viewable_job(job_id)
    if not current_session().principal.can_access(job.user_id):
        raise Forbidden(f"Only the creator of job {job_id} or an admin may cancel it.")
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
