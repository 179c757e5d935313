"""``GET /api/jobs/:id/events``: a job's life as server-sent events.

One event per status change (a new attempt is one) and progress update, and one ``log``
event per batch of log lines a worker ships (``{"attempt", "lines"}``; lines stored
before the stream opened are read with ``GET /api/jobs/:id/logs``), then the final
state, then the stream ends. Driven by NOTIFY, so it works with the API on several
processes or hosts; after a listener reconnect (or at each keep-alive) the job is
re-read so a missed notification cannot leave the stream behind. The caller is checked
again at every wake-up and keep-alive, like a waiting claim: once it may no longer see
the job (its credential revoked, its user demoted or deleted), the stream sends one
``event: error`` with ``{"status": 401|403, "message"}`` and ends.

A database restart does not end the stream: it waits for the database (the loop is
``webapi.events.follow``'s). A stream the server must end — its process stopping,
the database away for more than a minute — sends ``event: error`` with
``{"status": 503, "message"}`` after a ``retry:`` hint; the client opens it again.

Every event has an ``id``: the last log batch the stream has passed. A client that
reconnects sends it back as ``Last-Event-ID`` (``EventSource`` does by itself); the new
stream starts with the job's state, then the batches stored after it, so no log line is
lost or sent twice across the reconnect.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from shared.errors import Forbidden, InvalidInput, Unauthorized
from webapi.auth import current_principal, reauthenticate, require_roles
from webapi.blueprint import Blueprint
from webapi.events.follow import Feed, frame
from webapi.jobs import schemas
from webapi.jobs.access import check_visible, visible_job
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.job_logs import JobLogs
from webapi.store.queue_reads import MAX_ID
from webapi.store.records import JobRecord

blp = Blueprint(
    "events", __name__, url_prefix="/api/jobs", description="Events: one job followed live"
)
LOG_CHUNKS_PER_READ = 50
LAST_EVENT_ID = "Last-Event-ID"
_LAST_EVENT_ID_DOC = {
    "in": "header",
    "name": LAST_EVENT_ID,
    "required": False,
    "schema": {"type": "string"},
    "description": (
        "On a reconnect, the `id` of the last event received (EventSource sends it by"
        " itself): the stream starts with the job's state, then the `log` events stored"
        " after that one, so no batch of lines is lost or repeated across the reconnect."
    ),
}


@blp.route("/<int:job_id>/events")
@require_roles(*USERS)
@blp.errors(400, 404, 429)
@blp.doc(parameters=[_LAST_EVENT_ID_DOC])
@blp.response(
    200,
    {"type": "string"},
    content_type="text/event-stream",
    description=(
        "`event: status|progress` with the job as JSON `data`; `event: log` with"
        " `{attempt, lines}` (the lines stored after the stream opened); `event: error` with"
        " `{status, message}` when the caller lost access (401, 403) or the server must end"
        " the stream (503, with a `retry:` hint: reconnect), then the stream ends"
    ),
)
def events(job_id: int) -> Response:
    """Follow one job live: server-sent events until it reaches a terminal state.

    At most ``SHOAL_MAX_EVENT_STREAMS`` open streams per credential (per API
    process); past them, 429.
    """
    visible_job(job_id)
    runtime = jobs_runtime()
    feed = job_feed(runtime)
    view = JobStream(runtime.logs, job_id, seen=_resume_after(runtime.logs, job_id))
    return feed.respond(current_principal().credential, feed.follow(view, [job_id]))


def _resume_after(logs: JobLogs, job_id: int) -> int:
    """The log chunk the stream goes on after: the reconnecting client's ``Last-Event-ID``,
    else the last one stored (the lines stored before are for GET …/logs)."""
    raw = request.headers.get(LAST_EVENT_ID, "")
    if not raw:
        return logs.last_chunk(job_id)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ID):
        raise InvalidInput(
            f"{LAST_EVENT_ID} must be the id of an event this stream sent (a whole number)",
            errors={LAST_EVENT_ID: ["Not an event id."]},
        )
    return int(raw)


def job_feed(runtime: JobsRuntime) -> Feed:
    """What this process's event streams, the API's and the dashboard's, read and count."""
    return Feed(
        hub=runtime.hub,
        watch=runtime.queue.watch,
        read=runtime.reader.get,
        keepalive_seconds=runtime.settings.keepalive_seconds,
        streams=runtime.streams,
        max_streams=runtime.settings.max_event_streams,
        gauge=runtime.metrics.open_event_streams,
    )


class JobStream:
    """One job's stream: its status, progress and log events (a follow ``View``)."""

    def __init__(self, logs: JobLogs, job_id: int, *, seen: int) -> None:
        self.logs, self.job_id = logs, job_id
        self.seen = seen  # the last log chunk sent
        self.last: JobRecord | None = None

    def authorise(self, jobs: list[JobRecord]) -> None:
        principal = reauthenticate(*USERS)
        for job in jobs:
            check_visible(principal, job)

    def frames(self, jobs: list[JobRecord]) -> list[str]:
        if not jobs:  # deleted: the stream ends
            return []
        [current] = jobs
        chunks = self._new_logs()
        logs = [frame("log", data, chunk_id) for chunk_id, data in chunks]
        start, last = self.seen, self.last
        self.last, self.seen = current, chunks[-1][0] if chunks else start
        if last is None:  # the stream starts with the job's state
            return [_job_frame("status", current, start), *logs]
        # A job's lines come before its new state: its last ones before its end. A new
        # attempt is a new state too: a lease taken over by the next claim leaves the
        # job IN_PROGRESS, on another worker.
        if (current.status, current.attempts) != (last.status, last.attempts):
            return [*logs, _job_frame("status", current, self.seen)]
        if (current.progress, current.progress_message) != (last.progress, last.progress_message):
            return [*logs, _job_frame("progress", current, self.seen)]
        return logs

    def refused(self, error: Unauthorized | Forbidden) -> str:
        return frame("error", {"status": error.status, "message": error.message})

    def finished(self) -> str:
        return ""

    def _new_logs(self) -> list[tuple[int, dict[str, Any]]]:
        """Every chunk stored after the last one sent, in order: one ``log`` event each."""
        found, seen = [], self.seen
        while True:
            chunks = self.logs.since(self.job_id, seen, LOG_CHUNKS_PER_READ)
            found.extend(chunks)
            if len(chunks) < LOG_CHUNKS_PER_READ:
                return found
            seen = chunks[-1][0]


def _job_frame(kind: str, job: JobRecord, event_id: int) -> str:
    data: dict[str, Any] = schemas.JobOut().dump(job)
    return frame(kind, data, event_id)
