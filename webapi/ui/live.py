"""``/jobs/live?ids=…``: one event stream for every live job on a page.

``EventSource`` sends the session cookie (it cannot send an Authorization header),
and one stream per page keeps the browser under its six connections per host.
Each event is a job's status and progress as JSON; the stream ends with
``event: done`` when every job it follows is terminal. It is the API's follow loop
(``webapi.events.follow``): at each wake-up it re-reads the rows and checks the
session again, and ends with ``event: refused`` once the viewer has logged out or
lost access. It counts against the viewer's ``SHOAL_MAX_EVENT_STREAMS`` together
with their API streams (429 past them).
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from shared.errors import Forbidden, InvalidInput, TooManyRequests, Unauthorized
from webapi.events.follow import frame
from webapi.jobs.access import check_visible
from webapi.jobs.event_routes import job_feed
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.records import JobRecord
from webapi.ui.jobs import viewable_job
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session, reauthenticate

MAX_JOBS = 50


@blp.route("/jobs/live")
@page(*USERS)
def live_jobs() -> ResponseReturnValue:
    ids = _job_ids(request.args.get("ids", ""))
    for job_id in ids:
        viewable_job(job_id)
    feed = job_feed(jobs_runtime())
    # One count with the viewer's API streams: a session and a bearer token are one user.
    caller = current_session().principal.credential
    try:
        return feed.respond(caller, feed.follow(PageStream(), ids))
    except TooManyRequests as refused:
        response = render_page("error.html", refused.status, message=refused.message, code=429)
        response.headers["Retry-After"] = str(refused.retry_after)
        return response


def _job_ids(raw: str) -> list[int]:
    parts = [part for part in raw.split(",") if part]
    if not parts or len(parts) > MAX_JOBS or not all(part.isdigit() for part in parts):
        raise InvalidInput(f"ids must be 1 to {MAX_JOBS} job ids separated by commas.")
    return sorted({int(part) for part in parts})


class PageStream:
    """The live jobs of a page: each job's state when it changes (a follow ``View``)."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[object, ...]] = {}

    def authorise(self, jobs: list[JobRecord]) -> None:
        """Unauthorized or Forbidden once the viewer logged out, or lost the role or the jobs."""
        principal = reauthenticate().principal
        if not principal.has_any(USERS):
            raise Forbidden("This page needs the ANALYST role.")
        try:
            for job in jobs:
                check_visible(principal, job)
        except Forbidden:
            raise Forbidden("These jobs are no longer yours to follow.") from None

    def frames(self, jobs: list[JobRecord]) -> list[str]:
        changed = [job for job in jobs if self.last.get(job.id) != _state(job)]
        self.last.update((job.id, _state(job)) for job in changed)
        return [frame("job", _job(job)) for job in changed]

    def refused(self, error: Unauthorized | Forbidden) -> str:
        return frame("refused", {"message": error.message})

    def finished(self) -> str:
        # Without this the browser would reconnect to a stream with nothing left to say.
        return frame("done", {})


def _state(job: JobRecord) -> tuple[object, ...]:
    return (job.status, job.attempts, job.progress, job.progress_message)


def _job(job: JobRecord) -> dict[str, object]:
    return {
        "id": job.id,
        "status": job.status.value,
        "terminal": job.status.terminal,
        "attempts": job.attempts,
        "progress": job.progress,
        "message": job.progress_message,
    }
