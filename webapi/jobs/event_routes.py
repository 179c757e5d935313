"""``GET /api/jobs/:id/events``: a job's life as server-sent events.

One event per status change and progress update, and one ``log`` event per batch
of log lines a worker ships (``{"attempt", "lines"}``; lines stored before the
stream opened are read with ``GET /api/jobs/:id/logs``), then the final state, then
the stream ends. Driven by NOTIFY, so it works with the API on several processes or
hosts; after a listener reconnect (or at each keep-alive) the job is re-read so a
missed notification cannot leave the stream behind. The caller is checked again at
every wake-up and keep-alive, like a waiting claim: once it may no longer see the
job (its credential revoked, its user demoted or deleted), the stream sends one
``event: error`` with ``{"status": 401|403, "message"}`` and ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context

from shared.errors import Forbidden, TooManyRequests, Unauthorized
from webapi.auth import current_principal, reauthenticate, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs import schemas
from webapi.jobs.access import check_visible, visible_job
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.records import JobRecord

blp = Blueprint(
    "events", __name__, url_prefix="/api/jobs", description="Events: one job followed live"
)
LOG_CHUNKS_PER_READ = 50


@blp.route("/<int:job_id>/events")
@require_roles(*USERS)
@blp.errors(404, 429)
@blp.response(
    200,
    {"type": "string"},
    content_type="text/event-stream",
    description=(
        "`event: status|progress` with the job as JSON `data`; `event: log` with"
        " `{attempt, lines}` (the lines stored after the stream opened); `event: error` with"
        " `{status, message}` when the caller lost access, then the stream ends"
    ),
)
def events(job_id: int) -> Response:
    """Follow one job live: server-sent events until it reaches a terminal state.

    At most ``SHOAL_MAX_EVENT_STREAMS`` open streams per credential (per API
    process); past them, 429.
    """
    visible_job(job_id)
    runtime = jobs_runtime()
    credential = _credential()
    if not runtime.streams.take(credential, runtime.settings.max_event_streams):
        raise TooManyRequests(
            f"This caller already has {runtime.settings.max_event_streams} open event streams "
            "(SHOAL_MAX_EVENT_STREAMS).",
            retry_after=5,
        )
    response = Response(
        stream_with_context(_stream(runtime, job_id)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    runtime.metrics.open_event_streams.inc()

    def closed() -> None:  # called by the server when the stream ends, even unstarted
        runtime.streams.give_back(credential)
        runtime.metrics.open_event_streams.dec()

    response.call_on_close(closed)
    return response


def _credential() -> tuple[int, int | None]:
    principal = current_principal()
    return (principal.user_id, principal.api_key_id)


def _stream(runtime: JobsRuntime, job_id: int) -> Iterator[str]:
    with runtime.hub.follow(job_id) as subscription:
        runtime.queue.watch(job_id)  # its claim, progress, result, logs are notified from now
        # Read after subscribing and watching: no gap. Log lines stored before this
        # are for GET …/logs; the stream sends the ones stored after.
        seen = runtime.logs.last_chunk(job_id)
        last = runtime.reader.get(job_id)
        if last is None:
            return
        yield _frame("status", last)
        # A stopping server ends the stream; the client reconnects elsewhere.
        while not last.status.terminal and not runtime.hub.draining.is_set():
            if subscription.get(runtime.settings.keepalive_seconds) is None:
                yield ": keep-alive\n\n"
            # The row is the truth: re-reading on every wake-up also covers a
            # notification missed while the listener was reconnecting.
            current = runtime.reader.get(job_id)
            if current is None:
                return
            try:
                check_visible(reauthenticate(*USERS), current)
            except (Unauthorized, Forbidden) as refused:
                yield _error(refused)
                return
            for chunk_id, data in _new_logs(runtime, job_id, seen):
                yield f"event: log\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                seen = chunk_id
            if current.status != last.status:
                yield _frame("status", current)
            elif (current.progress, current.progress_message) != (
                last.progress,
                last.progress_message,
            ):
                yield _frame("progress", current)
            last = current


def _new_logs(runtime: JobsRuntime, job_id: int, seen: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every chunk stored after chunk ``seen``, in order: one ``log`` event each."""
    while True:
        chunks = runtime.logs.since(job_id, seen, LOG_CHUNKS_PER_READ)
        yield from chunks
        if len(chunks) < LOG_CHUNKS_PER_READ:
            return
        seen = chunks[-1][0]


def _error(refused: Unauthorized | Forbidden) -> str:
    data = {"status": refused.status, "message": refused.message}
    return f"event: error\ndata: {json.dumps(data)}\n\n"


def _frame(kind: str, job: JobRecord) -> str:
    data: dict[str, Any] = schemas.JobOut().dump(job)
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"
