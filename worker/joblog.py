"""A job's log lines on their way to the API: a bounded buffer and the thread that ships it.

The handler only ever appends to the buffer, which never blocks and never grows past
its bound: past it the oldest unsent lines are dropped and counted, and the count goes
out with the next batch as ``dropped``. The shipper posts a batch about once a second,
or at once when enough is waiting; a batch that could not be delivered goes back to
the front of the buffer and is tried again with the next one (the API ignores lines it
already has, by their ``seq``). Shipping failures are logged and never fail the job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from shared.client import ApiError, ApiUnavailable, ShoalClient

# The API refuses longer messages; a longer line is cut to this many UTF-8 bytes.
MAX_MESSAGE_BYTES = 16 * 1024
TRUNCATED = " [truncated]"
# A request's bounds (the API's: 1000 lines, 1 MiB body); messages leave room for JSON.
MAX_BATCH_LINES = 1000
MAX_BATCH_BYTES = 512 * 1024
# What a line costs beside its message (object, tuple, strings), so many short lines
# count towards the bound too.
LINE_OVERHEAD = 200
# A batch goes out at once when this much is waiting, else after the interval.
EAGER_BYTES = 64 * 1024
# After a failed delivery, the next try waits this long (or the interval, if longer).
FAILURE_PAUSE = 2.0

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def level_name(levelno: int) -> str:
    """The wire's level for a ``logging`` level (custom levels round down)."""
    for name in reversed(LEVELS):
        if levelno >= logging.getLevelName(name):
            return name
    return "DEBUG"


def truncate(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` cut to ``limit`` UTF-8 bytes, marked as cut."""
    if len(message) * 4 <= limit:
        return message  # short enough whatever its characters
    data = message.encode("utf-8", "replace")
    if len(data) <= limit:
        return message
    return data[: limit - len(TRUNCATED)].decode("utf-8", "ignore") + TRUNCATED


class LogLine(NamedTuple):  # a tuple: made for every line the handler writes
    seq: int
    time: float  # time.time()
    level: str
    stream: str  # "log", "stdout" or "stderr"
    message: str

    @property
    def size(self) -> int:
        return len(self.message) + LINE_OVERHEAD

    def to_wire(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "level": self.level,
            "stream": self.stream,
            "message": self.message,
        }


@dataclass(frozen=True)
class Batch:
    lines: list[LogLine]
    dropped_lines: int
    dropped_bytes: int

    def dropped(self) -> dict[str, int] | None:
        if not self.dropped_lines:
            return None
        return {"lines": self.dropped_lines, "bytes": self.dropped_bytes}


class LogBuffer:
    """One attempt's unsent lines: numbered in order, bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lines: deque[LogLine] = deque()
        self._bytes = 0
        self._seq = 0
        self._dropped_lines = 0
        self._dropped_bytes = 0
        self._lock = threading.Lock()
        self.ready = threading.Event()  # set when a batch is worth sending at once

    def add(self, level: str, stream: str, message: str) -> None:
        """Append one line; never blocks for long, never raises."""
        message = truncate(message)
        now = time.time()
        with self._lock:
            line = LogLine(self._seq, now, level, stream, message)
            self._seq += 1
            self._lines.append(line)
            self._bytes += line.size
            self._drop_oldest()
            if self._bytes >= EAGER_BYTES or len(self._lines) >= MAX_BATCH_LINES:
                self.ready.set()

    def _drop_oldest(self) -> None:
        while self._bytes > self.max_bytes and len(self._lines) > 1:
            gone = self._lines.popleft()
            self._bytes -= gone.size
            self._dropped_lines += 1
            self._dropped_bytes += len(gone.message.encode("utf-8", "replace"))

    def take(self) -> Batch | None:
        """The oldest lines that fit one request, with the drops since the last batch."""
        with self._lock:
            if not self._lines and not self._dropped_lines:
                return None
            lines: list[LogLine] = []
            size = 0
            while self._lines and len(lines) < MAX_BATCH_LINES:
                line = self._lines[0]
                if lines and size + line.size > MAX_BATCH_BYTES:
                    break
                lines.append(self._lines.popleft())
                size += line.size
            self._bytes -= size
            batch = Batch(lines, self._dropped_lines, self._dropped_bytes)
            self._dropped_lines = self._dropped_bytes = 0
            if self._bytes < EAGER_BYTES and len(self._lines) < MAX_BATCH_LINES:
                self.ready.clear()
            return batch

    def put_back(self, batch: Batch) -> None:
        """An undelivered batch goes back in front; the bound still holds."""
        with self._lock:
            self._lines.extendleft(reversed(batch.lines))
            self._bytes += sum(line.size for line in batch.lines)
            self._dropped_lines += batch.dropped_lines
            self._dropped_bytes += batch.dropped_bytes
            self._drop_oldest()

    def waiting(self) -> bool:
        with self._lock:
            return bool(self._lines or self._dropped_lines)


class LogShipper:
    """The thread that posts an attempt's buffer to ``POST .../assignments/<id>/logs``."""

    def __init__(
        self,
        client: ShoalClient,
        assignment_id: int,
        buffer: LogBuffer,
        *,
        interval: float,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._client = client
        self._assignment_id = assignment_id
        self.buffer = buffer
        self._interval = interval
        self._log = logger
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._refused = False
        self._thread = threading.Thread(
            target=self._run, name=f"joblog-{assignment_id}", daemon=True
        )
        self.sent = 0  # lines the API took

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float) -> bool:
        """Send what is left, within ``timeout`` seconds; True if everything went out."""
        self._stop.set()
        self.buffer.ready.set()
        self._thread.join(timeout)
        self._abandon.set()  # a request in flight ends, then the thread does
        if self._thread.is_alive() or (self.buffer.waiting() and not self._refused):
            self._log.warning(
                "job log not fully delivered in %.1f s", timeout, extra={"action": "log_flush"}
            )
            return False
        return True

    def _run(self) -> None:
        while not self._abandon.is_set():
            if not self._stop.is_set():
                self.buffer.ready.wait(self._interval)
            stopping = self._stop.is_set()
            delivered = self._send_waiting()
            if stopping and delivered:
                return
            if not delivered:
                self._abandon.wait(FAILURE_PAUSE)

    def _send_waiting(self) -> bool:
        """Post batches until the buffer is empty; False if one could not be delivered."""
        while not self._refused:
            batch = self.buffer.take()
            if batch is None:
                return True
            if not self._post(batch):
                return False
        return True

    def _post(self, batch: Batch) -> bool:
        try:
            lines = [line.to_wire() for line in batch.lines]
            self._client.post_logs(self._assignment_id, lines, batch.dropped())
        except ApiUnavailable as error:
            self.buffer.put_back(batch)
            self._log.warning("job log not sent: %s", error, extra={"action": "log_retry"})
            return False
        except ApiError as error:
            # The assignment is over (or the batch is refused): nothing more will be taken.
            self._refused = True
            extra = {"action": "log_refused", "status": error.status}
            self._log.warning("job log refused: %s", error, extra=extra)
            return True
        self.sent += len(batch.lines)
        return True
