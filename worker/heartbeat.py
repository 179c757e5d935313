"""The heartbeat: a thread beside the work that keeps the lease alive.

It beats every ``min(max_interval, a third of the lease left)``, and sooner (at
most once a second) when the handler reports progress. An answer of ``cancelled``,
or a refusal that means the lease is gone (400/403/404), throws the job's
cancellation switch; an unreachable API is only logged, and the next beat tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from shared.client import ApiError, ApiUnavailable, ShoalClient
from worker.context import Cancellation, CancelReason

MIN_INTERVAL = 0.2
MIN_GAP_FOR_PROGRESS = 1.0
LOST_LEASE_STATUSES = frozenset({400, 403, 404, 409, 410})
MAX_MESSAGE = 1000


class Heartbeat:
    def __init__(
        self,
        client: ShoalClient,
        assignment_id: int,
        *,
        expires_at: datetime | None,
        max_interval: float,
        cancellation: Cancellation,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._client = client
        self._assignment_id = assignment_id
        self._expires_at = expires_at
        self._max_interval = max_interval
        self._cancellation = cancellation
        self._log = logger
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: tuple[float, str | None] | None = None
        self._last_beat = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{assignment_id}", daemon=True
        )
        self.beats = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        # A beat in flight may be retrying; the job does not wait for it.
        self._thread.join(timeout=2.0)

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Queue a progress update for the next beat, and bring that beat forward."""
        with self._lock:
            self._pending = (fraction, message[:MAX_MESSAGE] if message else message)
        self._wake.set()

    @property
    def expires_at(self) -> datetime | None:
        """When the lease ends, as the API last said."""
        return self._expires_at

    def interval(self) -> float:
        if self._expires_at is None:
            return self._max_interval
        left = (self._expires_at - datetime.now(UTC)).total_seconds()
        return max(MIN_INTERVAL, min(self._max_interval, left / 3))

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval())
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
                # Progress comes often; beats for it are spaced out.
                gap = MIN_GAP_FOR_PROGRESS - (time.monotonic() - self._last_beat)
                if gap > 0 and self._stop.wait(min(gap, self.interval())):
                    return
            if not self._beat():
                return

    def _beat(self) -> bool:
        """One heartbeat; False when the job must stop."""
        with self._lock:
            pending, self._pending = self._pending, None
        progress, message = pending or (None, None)
        self._last_beat = time.monotonic()
        try:
            answer = self._client.heartbeat(self._assignment_id, progress, message)
        except ApiError as error:
            if error.status in LOST_LEASE_STATUSES:
                self._log.warning(
                    "lease lost: %s", error, extra={"action": "lease_lost", "status": error.status}
                )
                self._cancellation.cancel(CancelReason.LEASE_LOST)
                return False
            self._log.error("heartbeat refused: %s", error, extra={"action": "heartbeat_error"})
            return True
        except ApiUnavailable as error:
            self._log.warning("heartbeat failed: %s", error, extra={"action": "heartbeat_error"})
            return True
        self.beats += 1
        if answer.expires_at is not None:
            self._expires_at = answer.expires_at
        if answer.cancelled:
            self._log.info("job cancelled", extra={"action": "job_cancelled"})
            self._cancellation.cancel(CancelReason.CANCELLED)
            return False
        return True


@contextmanager
def heartbeat(
    client: ShoalClient,
    assignment_id: int,
    *,
    expires_at: datetime | None,
    max_interval: float,
    cancellation: Cancellation,
    logger: logging.LoggerAdapter[logging.Logger],
) -> Iterator[Heartbeat]:
    """Beat for as long as the block runs."""
    beat = Heartbeat(
        client,
        assignment_id,
        expires_at=expires_at,
        max_interval=max_interval,
        cancellation=cancellation,
        logger=logger,
    )
    beat.start()
    try:
        yield beat
    finally:
        beat.stop()
