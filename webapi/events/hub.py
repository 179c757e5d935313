"""One LISTEN connection per API process, fanned out to the requests that wait.

Event streams follow one job each (found by job id, not by scanning every
subscriber); long-poll claims wait in ``ClaimWaiters``, which wakes one claimer per
PENDING job. Neither holds a database connection while it waits. The listener
reconnects by itself after a database outage, trying every ``RECONNECT_SECONDS``, and
then wakes every stream and the first claimer of each type, so nothing waits on a
notification lost meanwhile (whoever is woken re-reads the database). The loss wakes
them once too; the failed tries in between wake nobody and log only at debug level.
Every ``recheck_seconds`` the claimers are re-checked the same way, as a safety net.
"""

from __future__ import annotations

import json
import logging
import queue
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import Engine

from webapi.background import ProcessThread
from webapi.events.waiters import ClaimWaiters
from webapi.store.sql import events as events_sql
from webapi.store.sql.fragments import CHANNEL

log = logging.getLogger(__name__)
# Between two tries to connect again: what a status change lasting less than this after
# a database restart may go unseen by the streams (two changes in one read).
RECONNECT_SECONDS = 0.2


@dataclass(frozen=True)
class JobEvent:
    event: str  # created | status | progress | resync (the listener reconnected)
    job_id: int | None = None
    type: str | None = None
    status: str | None = None
    progress: float | None = None
    message: str | None = None
    count: int = 1  # jobs the event stands for: a batch's new jobs share one notification

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
            count=int(data.get("count", 1)),
        )


RESYNC = JobEvent(event="resync")


class Subscription:
    def __init__(self) -> None:
        self._events: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()

    def offer(self, event: JobEvent) -> None:
        self._events.put(event)

    def get(self, timeout: float) -> JobEvent | None:
        """The next matching event, or None after ``timeout`` seconds."""
        try:
            return self._events.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None


class JobEventHub:
    def __init__(
        self,
        engine: Engine,
        *,
        reconnect_seconds: float = RECONNECT_SECONDS,
        recheck_seconds: float = 5.0,
    ) -> None:
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        self._reconnect_seconds = reconnect_seconds
        self._recheck_seconds = recheck_seconds
        self._followers: dict[int, set[Subscription]] = {}
        self._lock = threading.Lock()
        self.claimers = ClaimWaiters()
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
        self.claimers.wake_all()

    @contextmanager
    def follow(self, *job_ids: int) -> Iterator[Subscription]:
        """The events of these jobs (and RESYNC) while the block runs."""
        self.ensure_started()
        subscription = Subscription()
        with self._lock:
            for job_id in job_ids:
                self._followers.setdefault(job_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                for job_id in job_ids:
                    followers = self._followers[job_id]
                    followers.discard(subscription)
                    if not followers:
                        del self._followers[job_id]

    def _publish(self, event: JobEvent) -> None:
        if event is RESYNC:
            for handler in self._channels.values():
                handler(None)
        with self._lock:
            if event is RESYNC:
                followers = list({s for group in self._followers.values() for s in group})
            else:
                followers = list(self._followers.get(event.job_id or 0, ()))
        for subscription in followers:
            subscription.offer(event)
        if event is RESYNC:
            self.claimers.recheck()
        elif event.status == "PENDING" and event.type is not None:
            self.claimers.wake(event.type, job_id=event.job_id, count=event.count)

    def _run(self, stopping: threading.Event) -> None:
        away = False  # the connection is lost and not made again yet
        while not stopping.is_set():
            error: psycopg2.Error | None = None
            try:
                self._listen(stopping)
            except psycopg2.Error as failed:
                error = failed
            if self.connected.is_set() or not away:  # a new loss, not one more failed try
                log.warning(
                    "job event listener lost its connection: %s",
                    error,
                    extra={"action": "listen_reconnect"},
                )
                self.connected.clear()
                self._publish(RESYNC)  # the streams wait for the database from now on
            else:
                log.debug("job event listener still away: %s", error)
            away = True
            stopping.wait(self._reconnect_seconds)

    def _listen(self, stopping: threading.Event) -> None:
        args, kwargs = self._connect_args
        conn = psycopg2.connect(*args, **{**kwargs, "application_name": "shoal-events"})
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                for channel in (CHANNEL, *self._channels):
                    cursor.execute(events_sql.LISTEN.format(channel=channel))
            self.connected.set()
            self._publish(RESYNC)  # anything sent while we were away is re-read
            next_recheck = time.monotonic() + self._recheck_seconds
            while not stopping.is_set():
                if select.select([conn], [], [], min(1.0, self._recheck_seconds))[0]:
                    conn.poll()
                    while conn.notifies:
                        notify = conn.notifies.pop(0)
                        handler = self._channels.get(notify.channel, self._dispatch)
                        handler(notify.payload)
                if time.monotonic() >= next_recheck:
                    next_recheck = time.monotonic() + self._recheck_seconds
                    self.claimers.recheck()
        finally:
            conn.close()

    def _dispatch(self, payload: str) -> None:
        try:
            event = JobEvent.from_payload(payload)
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a malformed job event", extra={"action": "bad_event"})
            return
        self._publish(event)
