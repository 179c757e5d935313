"""One LISTEN connection per API process, fanned out to every waiting request.

Long-poll claims and event streams subscribe here instead of holding a database
connection each. The listener reconnects by itself after a database outage and
then wakes every subscriber, so that nothing waits on a notification that was
lost while it was away (subscribers re-check the database when woken).
"""

from __future__ import annotations

import json
import logging
import queue
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import Engine

from shared.db.queue_sql import CHANNEL
from webapi.background import ProcessThread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    event: str  # created | status | progress | resync (the listener reconnected)
    job_id: int | None = None
    type: str | None = None
    status: str | None = None
    progress: float | None = None
    message: str | None = None

    @classmethod
    def from_payload(cls, payload: str) -> JobEvent:
        data: dict[str, Any] = json.loads(payload)
        progress = data.get("progress")
        return cls(
            event=str(data["event"]),
            job_id=data.get("job_id"),
            type=data.get("type"),
            status=data.get("status"),
            progress=None if progress is None else float(progress),
            message=data.get("message"),
        )


RESYNC = JobEvent(event="resync")


class Subscription:
    def __init__(self, match: Callable[[JobEvent], bool]) -> None:
        self.match = match
        self._events: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()

    def offer(self, event: JobEvent) -> None:
        if event is RESYNC or self.match(event):
            self._events.put(event)

    def get(self, timeout: float) -> JobEvent | None:
        """The next matching event, or None after ``timeout`` seconds."""
        try:
            return self._events.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None


class JobEventHub:
    def __init__(self, engine: Engine, *, reconnect_seconds: float = 1.0) -> None:
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        self._reconnect_seconds = reconnect_seconds
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._thread = ProcessThread("job-events", self._run)
        self.connected = threading.Event()
        self._channels: dict[str, Callable[[str | None], None]] = {}
        # Set when the process is stopping: long polls and event streams end at once.
        self.draining = threading.Event()

    def ensure_started(self) -> None:
        """Start the listener in this process (once; again after a fork)."""
        self._thread.ensure_started()

    def stop(self) -> None:
        self._thread.stop()

    def listen(self, channel: str, handler: Callable[[str | None], None]) -> None:
        """Also LISTEN on ``channel`` (call before the first start).

        ``handler`` runs on the listener thread with each payload, and with None when
        notifications may have been lost (the connection was lost or made again).
        """
        self._channels[channel] = handler

    def drain(self) -> None:
        """The server is stopping: wake every waiter, and let none wait again."""
        self.draining.set()
        self._publish(RESYNC)

    @contextmanager
    def subscribe(self, match: Callable[[JobEvent], bool]) -> Iterator[Subscription]:
        self.ensure_started()
        subscription = Subscription(match)
        with self._lock:
            self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscribers.discard(subscription)

    def _publish(self, event: JobEvent) -> None:
        if event is RESYNC:
            for handler in self._channels.values():
                handler(None)
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.offer(event)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self._listen(stopping)
            except psycopg2.Error as error:
                log.warning(
                    "job event listener lost its connection: %s",
                    error,
                    extra={"action": "listen_reconnect"},
                )
            self.connected.clear()
            self._publish(RESYNC)
            stopping.wait(self._reconnect_seconds)

    def _listen(self, stopping: threading.Event) -> None:
        args, kwargs = self._connect_args
        conn = psycopg2.connect(*args, **{**kwargs, "application_name": "shoal-events"})
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                for channel in (CHANNEL, *self._channels):
                    cursor.execute(f"LISTEN {channel}")
            self.connected.set()
            self._publish(RESYNC)  # anything sent while we were away is re-read
            while not stopping.is_set():
                if select.select([conn], [], [], 1.0)[0]:
                    conn.poll()
                    while conn.notifies:
                        notify = conn.notifies.pop(0)
                        handler = self._channels.get(notify.channel, self._dispatch)
                        handler(notify.payload)
        finally:
            conn.close()

    def _dispatch(self, payload: str) -> None:
        try:
            event = JobEvent.from_payload(payload)
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a malformed job event", extra={"action": "bad_event"})
            return
        self._publish(event)
