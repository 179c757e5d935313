"""``/jobs/live?ids=…``: one event stream for every live job on a page.

``EventSource`` sends the session cookie (it cannot send an Authorization header),
and one stream per page keeps the browser under its six connections per host.
Each event is a job's status and progress as JSON; the stream ends when every
job it follows is terminal. Like the API's own stream it is driven by the events
hub and re-reads the rows on every wake-up, so a missed notification costs nothing;
at each wake-up it also checks the session again, and ends with ``event: refused``
once the viewer has logged out or lost access.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue

from shared.errors import Forbidden, InvalidInput, Unauthorized
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.records import JobRecord
from webapi.ui.jobs import viewable_job
from webapi.ui.pages import blp, page
from webapi.ui.session import reauthenticate

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
    with runtime.metrics.open_event_streams.track_inprogress():
        yield from _follow(runtime, ids)


def _follow(runtime: JobsRuntime, ids: list[int]) -> Iterator[str]:
    following = set(ids)
    with runtime.hub.follow(*following) as subscription:
        runtime.queue.watch(*following)  # their claims, progress and results are notified
        last: dict[int, tuple[object, ...]] = {}
        while following:
            jobs = [job for job in map(runtime.reader.get, sorted(following)) if job]
            refused = _refusal(jobs) if last else None
            if refused is not None:
                yield f"event: refused\ndata: {json.dumps({'message': refused})}\n\n"
                return
            following = {job.id for job in jobs if not job.status.terminal}
            for job in jobs:
                if last.get(job.id) != _state(job):
                    last[job.id] = _state(job)
                    yield _frame(job)
            if following and subscription.get(runtime.settings.keepalive_seconds) is None:
                yield ": keep-alive\n\n"
    # Without this the browser would reconnect to a stream with nothing left to say.
    yield "event: done\ndata: {}\n\n"


def _refusal(jobs: list[JobRecord]) -> str | None:
    """Why the viewer may no longer follow these jobs (logged out, role or owner changed)."""
    try:
        principal = reauthenticate().principal
    except (Unauthorized, Forbidden) as refused:
        return refused.message
    if not principal.has_any(USERS):
        return "This page needs the ANALYST role."
    if not all(principal.can_access(job.user_id) for job in jobs):
        return "These jobs are no longer yours to follow."
    return None


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
