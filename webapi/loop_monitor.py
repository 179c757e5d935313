"""How long one greenlet keeps this process's event loop to itself, and where.

Under gevent every request of a process shares one loop (``webapi.serving``): while one
greenlet computes, no other request of the process moves. The monitor times every run
of a greenlet between two switches. A run counts as a block for as long as it held the
loop, less the time the kernel kept the process waiting for a CPU (the run-queue wait in
``/proc/thread-self/schedstat``): a loaded machine delays the loop without anyone's code
blocking it, and that is not counted.

The longest block since the process started goes to a gauge
(``shoal_loop_block_seconds_max``). With a report threshold (``SHOAL_LOOP_BLOCK_REPORT_MS``)
each block past it is logged (``loop.blocked``) with the stack that was running, taken by
a native thread while the block lasted; the end-to-end tests fail on any such line.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

import gevent
import greenlet
from gevent import monkey

from shared.settings import env_float

REPORT_VAR = "SHOAL_LOOP_BLOCK_REPORT_MS"
# How often the monitor's greenlet takes the run-queue baseline and logs what was found.
TICK_SECONDS = 0.02
# Runs shorter than this are not worth a gauge update.
FLOOR_SECONDS = 0.002
_STACK_LINES = 30

log = logging.getLogger(__name__)


def report_after(env: Mapping[str, str]) -> float | None:
    """Seconds past which a block is logged (``SHOAL_LOOP_BLOCK_REPORT_MS``); None: never."""
    if not env.get(REPORT_VAR):
        return None
    return env_float(env, REPORT_VAR, 100.0, 1.0, 600_000.0) / 1000


class RunQueueWait:
    """Seconds this thread has spent runnable but waiting for a CPU; 0 where unknown."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0


class LoopMonitor:
    """Times each greenlet's run on this thread's loop (start it on the loop's thread)."""

    def __init__(
        self,
        *,
        report_after: float | None,
        on_longest: Callable[[float], None],
        waited: Callable[[], float] | None = None,
    ) -> None:
        """``waited``: this thread's seconds in the run queue so far (``RunQueueWait``)."""
        self.report_after = report_after
        self.on_longest = on_longest
        self.longest = 0.0
        self._hub = gevent.get_hub()
        self._waited = waited or RunQueueWait()
        self._baseline = self._waited()
        self._since = perf_counter()  # when the running greenlet got the loop
        self._busy = False  # a greenlet other than the hub has it
        self._stack: tuple[float, str] | None = None  # (its run's start, the stack)
        self._reports: list[tuple[float, str]] = []  # (block, stack) not yet logged
        self._thread = monkey.get_original("_thread", "get_ident")()
        self._previous: Any = None
        self._running = False

    def start(self) -> None:
        self._running = True
        self._previous = greenlet.settrace(self._trace)
        gevent.spawn(self._tick)
        if self.report_after is not None:
            start_thread = monkey.get_original("_thread", "start_new_thread")
            start_thread(self._sample, ())

    def stop(self) -> None:
        self._running = False
        greenlet.settrace(self._previous)

    def _trace(self, event: str, args: tuple[Any, Any]) -> None:
        # Runs inside every switch: nothing here may switch (no locks, no logging).
        now = perf_counter()
        if self._busy:  # a greenlet other than the hub had the loop since self._since
            ran = now - self._since
            report = self.report_after is not None and ran > self.report_after
            if ran > FLOOR_SECONDS and (ran > self.longest or report):
                self._ended(ran)
        self._since = now
        self._busy = args[1] is not self._hub
        if self._previous is not None:
            self._previous(event, args)

    def _ended(self, ran: float) -> None:
        # The wait since the last tick covers this run's: the excess is never counted.
        blocked = ran - max(0.0, self._waited() - self._baseline)
        self.longest = max(self.longest, blocked)
        if self.report_after is not None and blocked > self.report_after:
            sampled = self._stack if self._stack and self._stack[0] == self._since else None
            self._reports.append((blocked, sampled[1] if sampled else "(not sampled)"))

    def _tick(self) -> None:
        published = 0.0
        while self._running:
            gevent.sleep(TICK_SECONDS)
            self._baseline = self._waited()
            if self.longest > published:
                published = self.longest
                self.on_longest(published)
            reports, self._reports = self._reports, []
            for blocked, stack in reports:
                log.warning(
                    "one greenlet held the event loop for %.0f ms",
                    blocked * 1000,
                    extra={
                        "action": "loop.blocked",
                        "blocked_ms": round(blocked * 1000),
                        "stack": stack,
                    },
                )

    def _sample(self) -> None:
        """A native thread: the stack of a run that goes past the threshold, once per run."""
        assert self.report_after is not None
        sleep = monkey.get_original("time", "sleep")
        period = min(self.report_after / 2, TICK_SECONDS)
        while self._running:
            sleep(period)
            since = self._since
            if not self._busy or perf_counter() - since < self.report_after:
                continue
            if self._stack is not None and self._stack[0] == since:
                continue
            frame = sys._current_frames().get(self._thread)
            if frame is not None:
                lines = traceback.format_stack(frame)[-_STACK_LINES:]
                self._stack = (since, "".join(lines))
