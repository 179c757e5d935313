"""Lost workers: the running ones the web API stopped hearing from, killed and replaced;
and every lost worker declared to the API, so the attempts it held end at once.

An idle worker waits in a long-poll claim and a busy one heartbeats, so the API
hears from every live worker at least every claim wait or heartbeat interval; a
frozen one (SIGSTOP, a hung process, a cut network) falls silent while its backend
still shows it running. Silence is the API's measure (its clock), so the manager's
own clock does not enter into it; a worker never heard from is silent since it
started.

Silence only counts while the API answers the manager, and none is judged until it
has answered for ``RECONNECT_SECONDS``: after an outage (or a manager's start) every
worker has time to come back, even one backing off between failed claims.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import httpx

from manager.api import Contact, ManagerApi
from manager.backends.base import ComputeBackend, Worker, WorkerLost, WorkerStatus
from shared.errors import ShoalError

log = logging.getLogger(__name__)
API_ERRORS = (ShoalError, httpx.HTTPError)
DECLARE_AT_ONCE = 1000  # lost workers per request (the API's bound)
UNDECLARED_KEPT = 10_000
# The longest a worker waits between failed claims (worker/runtime.py MAX_BACKOFF).
RECONNECT_SECONDS = 30.0


class SilenceWatch:
    def __init__(self, limit_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_seconds = limit_seconds
        self.clock = clock
        self.api_up_since: float | None = None

    def api_answered(self) -> None:
        if self.api_up_since is None:
            self.api_up_since = self.clock()

    def api_failed(self) -> None:
        self.api_up_since = None

    def silent(
        self, workers: Sequence[Worker], contacts: Mapping[str, Contact], now: datetime
    ) -> list[tuple[Worker, float]]:
        """The workers silent for longer than the limit (counting only the time the
        API has been answering), each with how long it has been silent."""
        if self.api_up_since is None:
            return []
        up_for = self.clock() - self.api_up_since
        if up_for < RECONNECT_SECONDS:
            return []
        found = []
        for worker in workers:
            contact = contacts.get(worker.task_arn)
            if contact is not None and contact.silent_seconds is not None:
                quiet = contact.silent_seconds
            else:
                quiet = (now - worker.started_at).total_seconds()
            if min(quiet, up_for) > self.limit_seconds:
                found.append((worker, quiet))
        return found


class LostWorkers:
    """Kills running workers that fell silent, and declares lost workers to the API.

    ``on_lost`` is told of each worker this kills (the loop logs it and replaces it);
    every lost worker, killed here or found dead by the backend, goes through
    ``lost()`` on its way to the API.
    """

    def __init__(
        self,
        api: ManagerApi,
        backend: ComputeBackend,
        watch: SilenceWatch,
        on_lost: Callable[[WorkerLost], None],
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.backend = backend
        self.watch = watch
        self.on_lost = on_lost
        self.wall = wall
        self.condemned: set[str] = set()  # killed for silence, until gone from the fleet
        self.undeclared: list[WorkerLost] = []  # lost workers the API has not heard of yet

    def lost(self, gone: WorkerLost) -> None:
        self.undeclared.append(gone)

    def drop_silent(self, workers: list[Worker]) -> list[Worker]:
        """Kill running workers the API has not heard from for too long; each is lost
        and replaced. Those already declared lost (by this manager, or one before it)
        are stopped again if still running, but not replaced again. Returns the fleet
        with the killed ones STOPPING."""
        self.condemned &= {w.task_arn for w in workers}
        running = [w for w in workers if w.status is WorkerStatus.RUNNING]
        if not running:
            return workers
        try:
            contacts = self.api.contacts([w.task_arn for w in running])
        except API_ERRORS as error:
            log.warning(
                "cannot read workers' contact: %s", error, extra={"action": "contact_error"}
            )
            return workers
        again = [
            w
            for w in running
            if w.task_arn in self.condemned or _declared_lost(contacts.get(w.task_arn))
        ]
        if again:
            self.backend.kill(again, "declared lost, still running")
        judged = [w for w in running if w not in again]
        for worker, quiet in self.watch.silent(judged, contacts, self.wall()):
            reason = f"no contact with the API for {quiet:.0f} s"
            for gone in self.backend.kill([worker], reason):
                self.on_lost(gone)
            self.condemned.add(worker.task_arn)
        out = {w.task_arn for w in again} | self.condemned
        stopping = WorkerStatus.STOPPING
        return [
            dataclasses.replace(w, status=stopping) if w.task_arn in out else w for w in workers
        ]

    def declare(self, holder: str) -> None:
        """Tell the API which workers are gone; kept and sent again if it cannot hear it."""
        while self.undeclared:
            batch = self.undeclared[:DECLARE_AT_ONCE]
            try:
                self.api.declare_lost(holder, batch)
            except API_ERRORS as error:
                log.warning(
                    "cannot declare %d lost workers yet: %s",
                    len(self.undeclared),
                    error,
                    extra={"action": "declare_lost_error"},
                )
                self.undeclared = self.undeclared[-UNDECLARED_KEPT:]
                return
            del self.undeclared[: len(batch)]


def _declared_lost(contact: Contact | None) -> bool:
    return contact is not None and contact.lost
