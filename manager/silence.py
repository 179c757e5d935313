"""Which running workers the web API has stopped hearing from.

An idle worker waits in a long-poll claim and a busy one heartbeats, so the API
hears from every live worker at least every claim wait or heartbeat interval; a
frozen one (SIGSTOP, a hung process, a cut network) falls silent while its backend
still shows it running. Silence is the API's measure (its clock), so the manager's
own clock does not enter into it; a worker never heard from is silent since it
started.

Silence only counts while the API answers the manager: after an outage every
worker gets the full limit to come back (a worker backs off up to 30 s between
failed claims, so the limit should not be below that).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from manager.api import Contact
from manager.backends.base import Worker


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
