"""Following jobs live as server-sent events: the API's job stream and the dashboard's.

One loop serves both: subscribe to the jobs' events, ask for them to be notified
(watch), then at every wake-up re-read the rows (the row is the truth: a missed
notification costs nothing), authorise the caller again, and let the endpoint's
``View`` write what changed. It ends when every job it follows has ended or gone,
when the caller may no longer see them (``View.refused``), or when the server must
stop serving it: then with ``event: error`` (``{"status": 503, "message"}``) and a
``retry:`` hint, so the client reconnects (with ``Last-Event-ID`` where the stream
sent ids) to another process, or to this one once it can serve again.

A database restart does not end a stream: a read that fails because the database is
unreachable is tried again when the event listener is back (its reconnect wakes every
stream) or at the next keep-alive, for up to ``OUTAGE_SECONDS``.

Open streams are counted per caller (its credential: a user's bearer tokens and
dashboard sessions are one) and per process, the API's and the dashboard's together.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Protocol

from flask import Response, stream_with_context
from prometheus_client import Gauge
from sqlalchemy.exc import SQLAlchemyError

from shared.errors import Forbidden, TooManyRequests, Unauthorized
from webapi.errors import is_database_unavailable
from webapi.events.hub import JobEventHub, Subscription
from webapi.events.slots import Slots
from webapi.store.records import JobRecord

log = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
# How long a client should wait before it reconnects to a stream that had to end.
RETRY_MILLISECONDS = 1000
# How long a stream waits for an unreachable database before it ends (with retry:).
OUTAGE_SECONDS = 60.0
SERVER_STOPPING = "The server is stopping; reconnect to go on following."
DATABASE_AWAY = "The database is unreachable; reconnect to go on following."


class View(Protocol):
    """What one kind of stream says: its events, its checks, its last words."""

    def authorise(self, jobs: list[JobRecord]) -> None:
        """Raise Unauthorized or Forbidden once the caller may no longer follow ``jobs``."""

    def frames(self, jobs: list[JobRecord]) -> list[str]:
        """The events for what changed since the last call; keeps its state only if it
        returns (a read that fails leaves it as it was, to be tried again)."""

    def refused(self, error: Unauthorized | Forbidden) -> str:
        """The last event of a stream whose caller lost access."""

    def finished(self) -> str:
        """The last event once every job ended (or is gone); may be empty."""


def frame(kind: str, data: object, event_id: int | None = None) -> str:
    """One server-sent event with JSON ``data``; ``event_id`` is what a reconnecting
    client sends back as ``Last-Event-ID``."""
    head = f"event: {kind}\n" if event_id is None else f"event: {kind}\nid: {event_id}\n"
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def interrupted(message: str) -> str:
    """The last event of a stream that the server must end: the client should reconnect."""
    data = {"status": 503, "message": message}
    return f"event: error\nretry: {RETRY_MILLISECONDS}\ndata: {json.dumps(data)}\n\n"


@dataclass(frozen=True)
class Feed:
    """Where streams read their jobs from, and how many each caller may hold open."""

    hub: JobEventHub
    watch: Callable[..., None]  # Queue.watch: the jobs' claims and progress get notified
    read: Callable[[int], JobRecord | None]  # QueueReader.get
    keepalive_seconds: float
    streams: Slots  # open streams per caller, in this process
    max_streams: int  # SHOAL_MAX_EVENT_STREAMS
    gauge: Gauge  # shoal_open_event_streams

    def respond(self, caller: Hashable, body: Iterator[str]) -> Response:
        """``body`` as an event stream, holding one of ``caller``'s stream slots while open.

        TooManyRequests (429 with Retry-After) when ``caller`` already holds them all.
        """
        if not self.streams.take(caller, self.max_streams):
            raise TooManyRequests(
                f"This caller already has {self.max_streams} open event streams, API and "
                "dashboard together (SHOAL_MAX_EVENT_STREAMS).",
                retry_after=5,
            )
        response = Response(
            stream_with_context(body),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.gauge.inc()

        def closed() -> None:  # called by the server when the stream ends, even unstarted
            self.streams.give_back(caller)
            self.gauge.dec()

        response.call_on_close(closed)
        return response

    def follow(self, view: View, job_ids: list[int]) -> Iterator[str]:
        """The stream of ``job_ids`` as ``view`` writes it, from their state now to its end.

        The caller was authorised for the first read; every later one is checked again.
        """
        following = sorted(set(job_ids))
        with self.hub.follow(*following) as subscription:
            jobs: list[JobRecord] | None = None  # the last read that succeeded
            outage: float | None = None  # since when reads have failed
            while True:
                try:
                    jobs, frames = self._read(view, following, first=jobs is None)
                except (Unauthorized, Forbidden) as refused:
                    yield view.refused(refused)
                    return
                except SQLAlchemyError as error:
                    outage = _outage(error, following, outage)
                    if time.monotonic() - outage > OUTAGE_SECONDS:
                        yield interrupted(DATABASE_AWAY)
                        return
                else:
                    outage = None
                    yield from frames
                    following = [job.id for job in jobs if not job.status.terminal]
                    if not following:
                        if last := view.finished():
                            yield last
                        return
                if self.hub.draining.is_set():  # the client reconnects to another process
                    yield interrupted(SERVER_STOPPING)
                    return
                if not self._wake(subscription, outage is not None):
                    yield KEEPALIVE

    def _read(
        self, view: View, following: list[int], *, first: bool
    ) -> tuple[list[JobRecord], list[str]]:
        """The jobs now and their events; the first read also has them notified (watch)."""
        if first:
            self.watch(*following)
        jobs = [job for job in map(self.read, following) if job is not None]
        if not first:
            view.authorise(jobs)
        return jobs, view.frames(jobs)

    def _wake(self, subscription: Subscription, outage: bool) -> bool:
        """Wait for a reason to read again: an event (True), or the keep-alive (False).

        During an outage only the listener's reconnect (or the server stopping) counts:
        an event of another kind (the loss of the connection seen by the listener only
        now) must not cost a read.
        """
        deadline = time.monotonic() + self.keepalive_seconds
        while subscription.get(deadline - time.monotonic()) is not None:
            if not outage or self.hub.connected.is_set() or self.hub.draining.is_set():
                return True
        return False


def _outage(error: SQLAlchemyError, job_ids: list[int], since: float | None) -> float:
    """Since when the database has been unreachable; ``error`` again if it is a bug."""
    if not is_database_unavailable(error):
        raise error
    if since is not None:
        return since
    log.warning(
        "event stream waits for the database: %s",
        str(error).splitlines()[0] if str(error) else type(error).__name__,
        extra={"action": "events.database_unavailable", "job_ids": job_ids},
    )
    return time.monotonic()
