"""Following jobs live as server-sent events: the API's job stream and the dashboard's.

One loop serves both: subscribe to the jobs' events, ask for them to be notified
(watch), then at every wake-up re-read the rows (the row is the truth: a missed
notification costs nothing), authorise the caller again, and let the endpoint's
``View`` write what changed. It ends when every job it follows has ended or gone,
when the caller may no longer see them (``View.refused``), or when the server stops.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Protocol

from flask import Response, stream_with_context
from prometheus_client import Gauge

from shared.errors import Forbidden, TooManyRequests, Unauthorized
from webapi.events.hub import JobEventHub
from webapi.events.slots import Slots
from webapi.store.records import JobRecord

KEEPALIVE = ": keep-alive\n\n"


class View(Protocol):
    """What one kind of stream says: its events, its checks, its last words."""

    def authorise(self, jobs: list[JobRecord]) -> None:
        """Raise Unauthorized or Forbidden once the caller may no longer follow ``jobs``."""

    def frames(self, jobs: list[JobRecord]) -> list[str]:
        """The events for what changed since the last call."""

    def refused(self, error: Unauthorized | Forbidden) -> str:
        """The last event of a stream whose caller lost access."""

    def finished(self) -> str:
        """The last event once every job ended (or is gone); may be empty."""


def frame(kind: str, data: object) -> str:
    """One server-sent event with JSON ``data``."""
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


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
                f"This caller already has {self.max_streams} open event streams "
                "(SHOAL_MAX_EVENT_STREAMS).",
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
            self.watch(*following)
            checked = False
            while True:
                jobs = [job for job in map(self.read, following) if job is not None]
                try:
                    if checked:
                        view.authorise(jobs)
                except (Unauthorized, Forbidden) as refused:
                    yield view.refused(refused)
                    return
                checked = True
                yield from view.frames(jobs)
                following = [job.id for job in jobs if not job.status.terminal]
                if not following:
                    if last := view.finished():
                        yield last
                    return
                if self.hub.draining.is_set():  # a stopping server ends the stream
                    return
                if subscription.get(self.keepalive_seconds) is None:
                    yield KEEPALIVE
