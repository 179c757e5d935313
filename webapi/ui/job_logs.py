"""A job's whole log on the dashboard: a page of lines at a time, and, while the job
runs, new lines appended every two seconds."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.typing import ResponseReturnValue

from shared.errors import InvalidInput
from webapi.errors import validation_errors
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.ui.jobs import viewable_job
from webapi.ui.pages import blp, page, render_page

PAGE_LINES = 1000


class LogQuery(ma.Schema):
    attempt = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))
    after = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


@blp.route("/jobs/<int:job_id>/logs")
@page(*USERS)
def job_log(job_id: int) -> ResponseReturnValue:
    """The log from ``after`` on (the start by default), one attempt or all."""
    return _render("job_log.html", job_id)


@blp.route("/jobs/<int:job_id>/logs/more")
@page(*USERS)
def job_log_more(job_id: int) -> ResponseReturnValue:
    """The lines stored after ``after``, and the poller that asks for the next ones."""
    return _render("_job_log_more.html", job_id)


def _render(template: str, job_id: int) -> ResponseReturnValue:
    job = viewable_job(job_id)
    query = _query()
    try:
        found = jobs_runtime().logs.read(
            job_id, attempt=query["attempt"], cursor=query["after"], limit=PAGE_LINES
        )
    except InvalidInput as error:
        raise InvalidInput(f"after: {error.message}", errors=error.errors) from error
    return render_page(
        template,
        job=job,
        lines=found.lines,
        attempt=query["attempt"],
        next_cursor=found.next_cursor,
        end_cursor=found.end_cursor,
        # New lines can only come while the job runs and this page reached the end.
        live=not job.status.terminal and found.next_cursor is None,
    )


def _query() -> dict[str, Any]:
    args = {key: value for key, value in request.args.items() if value}
    try:
        loaded: dict[str, Any] = LogQuery().load(args, unknown=ma.EXCLUDE)
    except ma.ValidationError as error:
        problems = validation_errors(error.messages)
        message = "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in problems.items())
        raise InvalidInput(message, errors=problems) from error
    return loaded
