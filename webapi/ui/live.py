"""``/jobs/live?ids=…``: one event stream for every live job on a page.

``EventSource`` sends the session cookie (it cannot send an Authorization header),
and one stream per page keeps the browser under its six connections per host.
Each event is a job's status and progress as JSON; the stream ends when every
job it follows is terminal. Like the API's own stream it is driven by the events
hub and re-reads the rows on every wake-up, so a missed notification costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue

from shared.db.records import JobRecord
from shared.errors import InvalidInput
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.ui.jobs import viewable_job
from webapi.ui.pages import blp, page

MAX_JOBS = 50


@blp.route("/jobs/live")
@page(*USERS)
def live_jobs() -> ResponseReturnValue:
    ids = _job_ids(request.args.get("ids", ""))
    for job_id in ids:
        viewable_job(job_id)
    stream = stream_with_context(_stream(jobs_runtime(), ids))
    return Response(
        stream,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _job_ids(raw: str) -> list[int]:
    parts = [part for part in raw.split(",") if part]
    if not parts or len(parts) > MAX_JOBS or not all(part.isdigit() for part in parts):
        raise InvalidInput(f"ids must be 1 to {MAX_JOBS} job ids separated by commas.")
    return sorted({int(part) for part in parts})


def _stream(runtime: JobsRuntime, ids: list[int]) -> Iterator[str]:
    following = set(ids)
    with runtime.hub.subscribe(lambda event: event.job_id in following) as subscription:
        last: dict[int, tuple[object, ...]] = {}
        while following:
            for job_id in sorted(following):
                job = runtime.reader.get(job_id)
                if job is None or job.status.terminal:
                    following.discard(job_id)
                if job is not None and last.get(job_id) != _state(job):
                    last[job_id] = _state(job)
                    yield _frame(job)
            if following and subscription.get(runtime.settings.keepalive_seconds) is None:
                yield ": keep-alive\n\n"
    # Without this the browser would reconnect to a stream with nothing left to say.
    yield "event: done\ndata: {}\n\n"


def _state(job: JobRecord) -> tuple[object, ...]:
    return (job.status, job.progress, job.progress_message)


def _frame(job: JobRecord) -> str:
    data = {
        "id": job.id,
        "status": job.status.value,
        "terminal": job.status.terminal,
        "progress": job.progress,
        "message": job.progress_message,
    }
    return f"event: job\ndata: {json.dumps(data)}\n\n"
