"""What a handler gets: the job, its validated input, an output directory, progress
reporting, and a cancellation signal it must honour."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.capture import run_logged


class CancelReason(enum.StrEnum):
    CANCELLED = "cancelled"  # a user cancelled the job
    LEASE_LOST = "lease_lost"  # the API no longer counts this worker as the holder
    SHUTDOWN = "shutdown"  # the worker is stopping and its grace period ran out
    TIMED_OUT = "timed_out"  # the attempt reached its job type's run-time limit


class JobCancelled(Exception):
    """The job was cancelled while it ran; nothing is reported as a success."""


class Cancellation:
    """A one-way switch with the reason it was thrown; the first reason wins."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._reason: CancelReason | None = None
        self._lock = threading.Lock()
        self.at: float | None = None  # time.monotonic() when it was thrown

    def cancel(self, reason: CancelReason) -> bool:
        """Throw the switch; False if it was already thrown."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
            self.at = time.monotonic()
        self.event.set()
        return True

    @property
    def reason(self) -> CancelReason | None:
        return self._reason


@dataclass(frozen=True)
class JobContext:
    job: dict[str, Any]
    input: dict[str, Any]
    output_dir: Path
    logger: logging.LoggerAdapter[logging.Logger]
    cancel_event: threading.Event
    _report: Callable[[float, str | None], None] = field(repr=False)
    # Where printed text goes: the job's log (None: a context built outside a worker).
    _output: Callable[[str, str, str], None] | None = field(default=None, repr=False)

    @property
    def job_id(self) -> int:
        return int(self.job["id"])

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; returns False at once if the job is cancelled meanwhile."""
        return not self.cancel_event.wait(max(seconds, 0.0))

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress (0–1, clamped); it goes out with the next heartbeat."""
        self._report(min(max(float(fraction), 0.0), 1.0), message)

    def run(self, args: str | Sequence[str], *, check: bool = True, **popen: Any) -> int:
        """Run a command with its output in the job's log, whatever the worker's concurrency.

        Its exit code; with ``check`` a non-zero one raises ``CalledProcessError``.
        ``popen`` goes to :class:`subprocess.Popen` (``cwd``, ``env``, ...).
        """
        write = self._output or (lambda stream, text, source: print(text, end=""))
        return run_logged(args, write, check=check, **popen)
