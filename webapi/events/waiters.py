"""Waiting claimers of one process, woken one per job: no thundering herd.

A PENDING job (created, requeued, released) wakes the longest-waiting claimer of
its type, and only that one; N jobs wake N claimers, also when a batch announces
its N new jobs in one notification. A wake that its claimer
cannot use (it is leaving) is handed to the next one. As a safety net for lost
notifications, a re-check wakes the first claimer of each type; a claimer woken
that way that finds a job wakes the next one (a backlog drains claimer by
claimer, never all at once), and one that finds nothing ends the chain.

A claim that finds nothing is remembered: until a notification (or a re-check)
says a job of those types may be PENDING, a new waiting claim skips its first
claim and waits at once. A claimer woken for one job that takes exactly that job
keeps the types known empty. So a claimer that got its job and asks again costs
no statement, and each new job costs one claim per API process.

Any waiting claimer may be gone (a worker killed during its long poll): each
carries a check of its connection, and a wake skips the gone ones, ending their
wait, for the next claimer still there. A gone claimer never takes a job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from enum import Enum

from webapi.events.slots import Slots

Snapshot = tuple[int, tuple[int, ...]]


class Wake(Enum):
    JOB = "job"  # a notification: one job of the claimer's types is PENDING
    RECHECK = "recheck"  # the safety net: look again, and pass it on when it finds one
    GONE = "gone"  # the claimer's client closed its connection: stop waiting, claim nothing


def _present() -> bool:
    return False


class Waiter:
    """One waiting claim request; ``key`` is what the per-caller cap counts, ``gone``
    tells whether its client has closed the connection."""

    def __init__(
        self, types: frozenset[str], key: Hashable, gone: Callable[[], bool] = _present
    ) -> None:
        self.types = types
        self.key = key
        self.gone = gone
        self.reason: Wake | None = None
        self.woken_for: str | None = None
        self.woken_by: int | None = None  # the notified job, for a JOB wake
        self._event = threading.Event()

    def take_wake(self) -> Wake | None:
        """The wake received since the last call (and clears it), or None."""
        if not self._event.is_set():
            return None
        self._event.clear()
        reason, self.reason = self.reason, None
        return reason

    def wait(self, timeout: float) -> Wake | None:
        self._event.wait(max(timeout, 0))
        return self.take_wake()

    def _wake(self, reason: Wake, job_type: str, job_id: int | None = None) -> None:
        self.reason, self.woken_for, self.woken_by = reason, job_type, job_id
        self._event.set()


class ClaimWaiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[Waiter, None] = {}  # insertion-ordered: longest waiting first
        self.slots = Slots()
        self._epoch = 0  # re-checks so far
        self._seen: dict[str, int] = {}  # PENDING notifications so far, per type
        self._empty: dict[frozenset[str], Snapshot] = {}

    @contextmanager
    def register(
        self,
        types: frozenset[str],
        key: Hashable,
        cap: int,
        gone: Callable[[], bool] = _present,
    ) -> Iterator[Waiter | None]:
        """A waiter for one request; None when ``key`` already has ``cap`` open."""
        if not self.slots.take(key, cap):
            yield None
            return
        waiter = Waiter(types, key, gone)
        try:
            yield waiter
        finally:
            self._leave(waiter)

    def queue(self, waiter: Waiter) -> None:
        """Make ``waiter`` wakeable (again), behind those already waiting."""
        with self._lock:
            self._queued.setdefault(waiter, None)

    def snapshot(self, types: frozenset[str]) -> Snapshot:
        """What has been notified for ``types`` so far; take it before a claim."""
        with self._lock:
            return (self._epoch, tuple(self._seen.get(t, 0) for t in sorted(types)))

    def found_empty(self, types: frozenset[str], before: Snapshot) -> None:
        """A claim of ``types`` that started at ``before`` found nothing."""
        with self._lock:
            self._empty[types] = before

    def known_empty(self, types: frozenset[str]) -> bool:
        """No job of ``types`` has been notified since a claim found none."""
        return self._empty.get(types) == self.snapshot(types)

    def wake(
        self, job_type: str, reason: Wake = Wake.JOB, job_id: int | None = None, count: int = 1
    ) -> int:
        """Wake the ``count`` longest-waiting claimers of ``job_type`` still there (a
        batch's new jobs come in one notification); how many there were. Claimers
        found gone on the way are dropped and told so."""
        with self._lock:
            self._seen[job_type] = self._seen.get(job_type, 0) + 1
            woken: list[Waiter] = []
            gone: list[Waiter] = []
            for waiter in self._queued:
                if len(woken) == count:
                    break
                if job_type in waiter.types:
                    (gone if waiter.gone() else woken).append(waiter)
            for waiter in gone:
                del self._queued[waiter]
                waiter._wake(Wake.GONE, job_type)
            for waiter in woken:
                del self._queued[waiter]
                waiter._wake(reason, job_type, job_id)
        return len(woken)

    def pass_on(self, waiter: Waiter, reason: Wake | None) -> None:
        """``waiter`` will not use the wake it took (its client is gone): the next one gets it."""
        if reason in (Wake.JOB, Wake.RECHECK) and waiter.woken_for is not None:
            self.wake(waiter.woken_for, reason, waiter.woken_by)

    def took_notified(self, waiter: Waiter, before: Snapshot) -> None:
        """``waiter``, woken for one new job, claimed that very job in a claim that started
        at ``before``: if the types were known empty just before that notification, they
        are again (a claimer that asks next need not run a claim to find nothing)."""
        with self._lock:
            empty = self._empty.get(waiter.types)
            types = sorted(waiter.types)
            if empty is None or waiter.woken_for is None or empty[0] != before[0]:
                return
            index = types.index(waiter.woken_for)
            expected = list(empty[1])
            expected[index] += 1
            if tuple(expected) == before[1]:
                self._empty[waiter.types] = before

    def wake_all(self) -> None:
        """Wake every waiting claimer (the server is stopping)."""
        with self._lock:
            woken, self._queued = list(self._queued), {}
        for waiter in woken:
            waiter._wake(Wake.RECHECK, next(iter(waiter.types)))

    def recheck(self) -> None:
        """Wake the first claimer of each type that has one (the safety net)."""
        with self._lock:
            self._epoch += 1
            types = {t for waiter in self._queued for t in waiter.types}
        for job_type in types:
            self.wake(job_type, Wake.RECHECK)

    def _leave(self, waiter: Waiter) -> None:
        with self._lock:
            self._queued.pop(waiter, None)
        self.slots.give_back(waiter.key)
        # an unused wake goes to the next in line
        self.pass_on(waiter, waiter.take_wake())
