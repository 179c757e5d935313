"""The cheap periodic work of every API process: lease expiry and pruning.

Expiry also happens where jobs are claimed (a claim takes over an expired lease);
this sweep finishes the jobs whose attempts ran out and requeues the rest even
when no worker is claiming. Pruning runs hourly: the usage rollup's past days folded
into a row per day (webapi/store/usage.py), idempotency keys older than a day,
workers not heard from for a day, webhook deliveries settled longer ago than their
retention, and finished jobs when a retention is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from webapi.background import ProcessThread
from webapi.store import usage, webhooks, workers
from webapi.store.queue import Expired, Queue

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 3600


class Housekeeping:
    def __init__(
        self,
        queue: Queue,
        *,
        sweep_seconds: float,
        retention_days: int,
        webhook_retention_days: int = 30,
        on_timed_out: Callable[[str, int], None] = lambda job_type, n: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.sweep_seconds = sweep_seconds
        self.retention_seconds = retention_days * 86400
        self.webhook_retention_seconds = webhook_retention_days * 86400
        self.on_timed_out = on_timed_out
        self.clock = clock
        self._last_prune: float | None = None
        self._thread = ProcessThread("housekeeping", self._run)

    def ensure_started(self) -> None:
        self._thread.ensure_started()

    def stop(self) -> None:
        self._thread.stop()

    def run_once(self) -> Expired:
        expired = self.queue.expire()
        for job_type, count in expired.timed_out.items():
            self.on_timed_out(job_type, count)
        requeued, timed_out = expired.totals()
        if requeued or timed_out:
            log.info(
                "expired leases",
                extra={"action": "expire", "requeued": requeued, "timed_out": timed_out},
            )
        return expired

    def sweep(self) -> None:
        """One pass: expire leases; hourly, forget idempotency keys and workers not heard
        from for a day and settled webhook deliveries past their retention, and prune
        finished jobs if retention is set."""
        self.run_once()
        now = self.clock()
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        self.queue.forget_idempotency_keys()
        with self.queue.engine.begin() as conn:
            usage.compact(conn)
        workers.forget_old(self.queue.engine)
        pruned_webhooks = webhooks.prune(self.queue.engine, self.webhook_retention_seconds)
        if pruned_webhooks:
            log.info(
                "pruned webhook events",
                extra={"action": "prune_webhooks", "count": pruned_webhooks},
            )
        if not self.retention_seconds:
            return
        pruned = self.queue.prune(self.retention_seconds)
        log.info("pruned finished jobs", extra={"action": "prune", "count": pruned})

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.sweep_seconds):
            try:
                self.sweep()
            except SQLAlchemyError as error:
                log.warning(
                    "housekeeping skipped: %s",
                    type(error).__name__,
                    extra={"action": "housekeeping_failed"},
                )
