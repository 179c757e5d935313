"""The dashboard's job list: a sortable table of the viewer's jobs (and those reused
for them), or an admin's view of one user's or everyone's, filtered, 100 rows a page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from shared.enums import JobStatus
from shared.errors import Forbidden
from webapi.errors import validation_errors
from webapi.jobs import schemas
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS, list_filters, list_sort
from webapi.store.job_lists import JobLists, JobPage, JobSort
from webapi.ui.live import MAX_JOBS
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session

PAGE_SIZE = 100
FILTERS = ("status", "type", "batch", "name", "tag", "since", "until", "userId", "allUsers")
COLUMNS = ("id", "name", "type", "status", "submitted", "runtime", "progress")
SORTABLE = {"id": "id", "name": "name", "type": "type", "status": "status", "runtime": "runtime"}


@blp.route("/")
@page(*USERS)
def my_jobs() -> ResponseReturnValue:
    """The viewer's jobs, newest first unless sorted otherwise, by cursor pages."""
    args = MultiDict((key, value) for key, value in request.args.items(multi=True) if value)
    for key in ("since", "until"):  # a date field's day: from its midnight, UTC
        if key in args and "T" not in args[key]:
            args[key] = f"{args[key]}T00:00:00Z"
    try:
        query = schemas.ListQuery().load(_lists(args))
    except ma.ValidationError as error:
        return _render(args, None, errors=validation_errors(error.messages), status=400)
    principal = current_session().principal
    owner = query.get("userId")
    if (owner is not None or query["allUsers"]) and not principal.is_admin:
        raise Forbidden("Only admins may list other users' jobs.")
    user_id = None if owner is not None or query["allUsers"] else principal.user_id
    sort = list_sort(query)
    found = JobLists(jobs_runtime().reader.engine).page(
        list_filters(query, user_id=user_id, owner=owner),
        sort,
        limit=PAGE_SIZE,
        cursor=query.get("cursor"),
    )
    return _render(args, found, sort=sort)


def _lists(args: MultiDict[str, str]) -> dict[str, Any]:
    """The query string as ``ListQuery`` loads it: status and tag repeat."""
    loaded: dict[str, Any] = args.to_dict()
    for key in ("status", "tag"):
        if key in args:
            loaded[key] = args.getlist(key)
    return loaded


def _render(
    args: MultiDict[str, str],
    found: JobPage | None,
    *,
    sort: JobSort | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    sort = sort or JobSort()
    kept = {key: args.getlist(key) for key in FILTERS if key in args}
    jobs = found.items if found else []
    live = [job["id"] for job in jobs if not job["status"].terminal][:MAX_JOBS]
    return render_page(
        "jobs.html",
        status,
        jobs=jobs,
        total=found.total if found else 0,
        capped=bool(found and found.capped),
        next_cursor=found.next_cursor if found else None,
        paged="cursor" in args,
        filters=kept,
        filtered=any(key in kept for key in FILTERS if key != "allUsers"),
        with_user="userId" in kept or "allUsers" in kept,
        sort=sort,
        sort_links={
            column: {**kept, "sort": key, "order": _order(sort, key)}
            for column, key in SORTABLE.items()
        },
        live=live,
        now=datetime.now(UTC),
        runtime=_runtime,
        job_types=jobs_runtime().catalogue.names(),
        statuses=[s.value for s in JobStatus],
        errors=errors or {},
    )


def _order(sort: JobSort, key: str) -> str:
    """A column header's order: the other way if the list is sorted by it, else newest
    (or largest) first, names and types A to Z."""
    if sort.key == key:
        return "asc" if sort.descending else "desc"
    return "asc" if key in ("name", "type") else "desc"


def _runtime(job: dict[str, Any], now: datetime) -> str:
    """How long it ran (so far, while it runs); empty before it started."""
    started = job["started_at"]
    if started is None:
        return ""
    seconds = max(0, round(((job["finished_at"] or now) - started).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"
