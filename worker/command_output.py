"""What a command prints: its lines into the job's log, its progress lines to the
heartbeat, and its last lines kept for the error of a failed run.

One thread per pipe reads as fast as the command writes, whatever happens to the lines
afterwards: the job's log buffer is bounded and never blocks (past its bound the
oldest unsent lines are dropped and counted), so a chatty command never stalls on a
full pipe. A line longer than the API keeps is cut, and the rest of it skipped as it
arrives, so one endless line costs no more memory than a short one.
"""

from __future__ import annotations

import collections
import math
import re
import threading
from collections.abc import Callable
from typing import IO

from worker.joblog import MAX_MESSAGE_BYTES, LogBuffer

# One read takes at most this much of a line: one byte more than a log line may hold,
# so that the buffer marks a longer line as cut.
READ_LIMIT = MAX_MESSAGE_BYTES + 1
TAIL_LINES = 20
# `::progress 0.4 message` on stdout: the fraction done (0–1) and an optional message.
PROGRESS = re.compile(r"::progress\s+(\S+)(?:\s+(.*))?")

Report = Callable[[float, str | None], None]


def parse_progress(line: str) -> tuple[float, str | None] | None:
    """``(fraction, message)`` of a progress line, the fraction held to 0–1; None when
    the line is not one (a malformed one stays an ordinary line, for its author to see)."""
    match = PROGRESS.fullmatch(line)
    if match is None:
        return None
    try:
        fraction = float(match[1])
    except ValueError:
        return None
    if not math.isfinite(fraction):
        return None
    message = (match[2] or "").strip() or None
    return min(max(fraction, 0.0), 1.0), message


class CommandOutput:
    """The pipes of one command, read by two threads until the command and every
    process that inherited them are gone."""

    def __init__(self, buffer: LogBuffer, report: Report, name: str) -> None:
        self._buffer = buffer
        self._report = report
        self._name = name
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        for pipe, stream in ((stdout, "stdout"), (stderr, "stderr")):
            # "capture-": a worker thread, whose own logging is never a job's.
            thread = threading.Thread(
                target=self._pump,
                args=(pipe, stream),
                name=f"capture-{stream}-{self._name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> bool:
        """Wait for both pipes to close; False if one is still open after ``timeout``
        seconds (a process outside the group holds it: its later lines are lost)."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def tail(self) -> list[str]:
        """The command's last lines of output (stdout and stderr, as they came)."""
        with self._lock:
            return list(self._tail)

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        cut = False  # inside a line that was cut: skip to its end
        with pipe:
            while chunk := pipe.readline(READ_LIMIT):
                if not cut:
                    self._line(stream, chunk.decode("utf-8", "replace").rstrip("\r\n"))
                cut = not chunk.endswith(b"\n")

    def _line(self, stream: str, line: str) -> None:
        if stream == "stdout":
            progress = parse_progress(line)
            if progress is not None:
                self._report(*progress)
                return
        with self._lock:
            self._tail.append(line)
            self._buffer.add("INFO", stream, line)
