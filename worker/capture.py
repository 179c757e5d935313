"""What a running handler logs and prints, routed into its job's log.

Three sources, one :class:`OutputCapture` per process:

- ``logging``: a root handler takes each record emitted while a handler runs.
- ``sys.stdout`` / ``sys.stderr``: proxies take each write.
- file descriptors 1 and 2 (subprocesses, C code): with ``fds``, they become pipes that a
  reader thread drains; the worker's own logs go to a saved copy of the original stderr
  (:attr:`OutputCapture.console`), so the container log still gets them.

A write or record belongs to the job whose handler runs in the calling thread. One from
any other thread (a pool the handler started), and everything read from the pipes,
belongs to the running job when exactly one runs (always so with the default
concurrency of 1); otherwise it goes to the container log as before.
"""

from __future__ import annotations

import codecs
import faulthandler
import io
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, BinaryIO, TextIO

from worker.joblog import MAX_MESSAGE_BYTES, LogBuffer, level_name, truncate

# The worker's own threads: what they log is the worker's, never a job's.
WORKER_THREADS = ("MainThread", "claimer", "heartbeat-", "joblog-", "job-", "capture-")
_FORMATTER = logging.Formatter()
MAX_READS = 64


class JobSink:
    """One running job's end of the capture: whole lines into its log buffer.

    Text is put together into lines per stream and per source (``py`` for Python's
    writes, ``fd`` for the descriptors, ``cmd`` for ``ctx.run``), so that a line half
    written by one is never glued to another's.
    """

    def __init__(self, buffer: LogBuffer) -> None:
        self.buffer = buffer
        self._partial: dict[tuple[str, str], str] = {}
        self._skipping: set[tuple[str, str]] = set()  # inside a line already cut
        self._lock = threading.Lock()
        self.closed = False

    def record(self, level: str, message: str) -> None:
        if not self.closed:
            self.buffer.add(level, "log", message)

    def write(self, stream: str, text: str, source: str = "py") -> None:
        """Append printed text; each complete line becomes a log line."""
        key = (stream, source)
        with self._lock:
            if self.closed:
                return
            *lines, rest = (self._partial.pop(key, "") + text).split("\n")
            for line in lines:
                if key in self._skipping:
                    self._skipping.discard(key)
                else:
                    self.buffer.add("INFO", stream, line.removesuffix("\r"))
            if key in self._skipping:
                return
            if len(rest) > MAX_MESSAGE_BYTES:
                # A line without an end yet: its start is kept, the rest of it skipped.
                self.buffer.add("INFO", stream, truncate(rest))
                self._skipping.add(key)
            elif rest:
                self._partial[key] = rest

    def close(self) -> None:
        """The handler ended: a last unfinished line is a line too."""
        with self._lock:
            for (stream, _), rest in self._partial.items():
                self.buffer.add("INFO", stream, rest)
            self._partial.clear()
            self.closed = True


class OutputCapture:
    def __init__(self) -> None:
        self._by_thread: dict[int, JobSink] = {}
        self._running: list[JobSink] = []
        self._lock = threading.Lock()
        self.console: TextIO = sys.stderr
        self._handler: _JobLogHandler | None = None
        self._streams: tuple[TextIO, TextIO] | None = None
        self._pipes: _FdPipes | None = None

    # -- routing ---------------------------------------------------------------
    @contextmanager
    def attach(self, sink: JobSink) -> Iterator[JobSink]:
        """Route the calling thread's output (and the process's, while alone) to ``sink``."""
        ident = threading.get_ident()
        with self._lock:
            self._by_thread[ident] = sink
            self._running.append(sink)
        try:
            yield sink
        finally:
            self.drain()  # what a subprocess wrote before it ended is this job's
            with self._lock:
                self._by_thread.pop(ident, None)
                self._running.remove(sink)
            sink.close()

    def sink_for_thread(self) -> JobSink | None:
        sink = self._by_thread.get(threading.get_ident())
        if sink is not None:
            return sink
        if threading.current_thread().name.startswith(WORKER_THREADS):
            return None
        return self.sole_sink()

    def sole_sink(self) -> JobSink | None:
        running = self._running
        return running[0] if len(running) == 1 else None

    def drain(self) -> None:
        """Take what the pipes hold now, so it lands before what the caller adds next."""
        if self._pipes is not None:
            self._pipes.drain()

    # -- installing ------------------------------------------------------------
    def install(self, *, fds: bool) -> None:
        """Capture ``logging`` and ``sys.stdout``/``sys.stderr``, and with ``fds`` also
        file descriptors 1 and 2. Call before ``configure_logging(stream=self.console)``."""
        root = logging.getLogger()
        self._handler = _JobLogHandler(self)
        root.addHandler(self._handler)
        out, err = sys.stdout, sys.stderr
        self._streams = (out, err)
        if fds:
            out.flush()
            err.flush()
            self._pipes = _FdPipes(self)
            out = self._pipes.console(1)
            err = self._pipes.console(2)
            if faulthandler.is_enabled():  # a dying process's traces must not go into a pipe
                faulthandler.enable(err)
        self.console = err
        sys.stdout = _StreamProxy(self, "stdout", out, 1)
        sys.stderr = _StreamProxy(self, "stderr", err, 2)

    def uninstall(self) -> None:
        """Undo :meth:`install` (for tests)."""
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
        if self._streams is not None:
            sys.stdout, sys.stderr = self._streams
        if self._pipes is not None:
            self._pipes.close()
        self._handler = self._streams = self._pipes = None


class _JobLogHandler(logging.Handler):
    def __init__(self, capture: OutputCapture) -> None:
        super().__init__()
        self._capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        sink = self._capture.sink_for_thread()
        if sink is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + _FORMATTER.formatException(record.exc_info)
            self._capture.drain()
            sink.record(level_name(record.levelno), message)
        except Exception:
            self.handleError(record)


class _StreamProxy(io.TextIOBase):
    """``sys.stdout``/``sys.stderr``: a running job's writes go to its log, others on."""

    def __init__(self, capture: OutputCapture, stream: str, fallback: TextIO, fd: int) -> None:
        self._capture = capture
        self._stream = stream
        self._fallback = fallback
        self._fd = fd
        self._binary: BinaryIO | None = None

    def write(self, text: str) -> int:
        sink = self._capture.sink_for_thread()
        if sink is None:
            return self._fallback.write(text)
        if "\n" in text:  # a line ends: what the descriptors hold came first
            self._capture.drain()
        sink.write(self._stream, text)
        return len(text)

    def flush(self) -> None:
        self._fallback.flush()

    def fileno(self) -> int:
        return self._fd  # a subprocess given sys.stdout writes into the capture too

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def buffer(self) -> BinaryIO:
        """Bytes written here go to the descriptor (captured like a subprocess's)."""
        if self._binary is None:
            self._binary = open(self._fd, "wb", buffering=0, closefd=False)  # noqa: SIM115
        return self._binary

    def reconfigure(self, **options: Any) -> None:
        """Nothing to change: lines are taken as they are written."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _FdPipes:
    """Descriptors 1 and 2 as pipes; a reader thread hands what arrives to the sole job."""

    def __init__(self, capture: OutputCapture) -> None:
        self._capture = capture
        self._saved: dict[int, int] = {}
        self._reads: dict[int, tuple[str, codecs.IncrementalDecoder]] = {}
        self._consoles: dict[int, TextIO] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            self._saved[fd] = os.dup(fd)
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
            os.set_blocking(read, False)
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            self._reads[read] = (stream, decoder)
        # Two: poll() may not run twice at once on one object (the reader waits on one,
        # drain() checks with the other, under the lock).
        self._wait, self._check = select.poll(), select.poll()
        for read in self._reads:
            self._wait.register(read, select.POLLIN)
            self._check.register(read, select.POLLIN)
        self._thread = threading.Thread(target=self._run, name="capture-fds", daemon=True)
        self._thread.start()

    def console(self, fd: int) -> TextIO:
        """The original descriptor ``fd``, as a line-buffered text stream."""
        if fd not in self._consoles:
            self._consoles[fd] = open(  # noqa: SIM115 - lives as long as the process
                self._saved[fd], "w", buffering=1, encoding="utf-8", errors="replace", closefd=False
            )
        return self._consoles[fd]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._wait.poll(500):
                    self.drain()
            except Exception as error:  # the pipes must never fill up unread
                self.console(2).write(f"shoal worker: output capture failed: {error!r}\n")

    def drain(self) -> None:
        with self._lock:  # also waits for a delivery under way in the reader thread
            ready = {fd for fd, _ in self._check.poll(0)}
            for read, (stream, decoder) in self._reads.items():
                if read not in ready:
                    continue
                for _ in range(MAX_READS):  # a chatty child cannot hold the caller here
                    try:
                        data = os.read(read, 65536)
                    except (BlockingIOError, OSError):
                        break
                    if not data:
                        break
                    self._deliver(stream, decoder.decode(data))

    def _deliver(self, stream: str, text: str) -> None:
        sink = self._capture.sole_sink()
        if sink is not None:
            sink.write(stream, text, "fd")
        else:
            self.console(1 if stream == "stdout" else 2).write(text)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
        for read in self._reads:
            os.close(read)


def run_logged(
    args: str | Sequence[str],
    write: Callable[[str, str, str], None],
    *,
    check: bool = True,
    **popen: Any,
) -> int:
    """Run a command with its stdout and stderr, line by line, in ``write(stream, text)``;
    its exit code (with ``check``, a non-zero one raises ``CalledProcessError``)."""
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", **popen
    )
    pumps = [
        threading.Thread(target=_pump, args=(pipe, name, write), name=f"capture-{name}")
        for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))
    ]
    for pump in pumps:
        pump.start()
    code = process.wait()
    for pump in pumps:
        pump.join()
    if check and code:
        raise subprocess.CalledProcessError(code, args)
    return code


def _pump(pipe: IO[str], stream: str, write: Callable[[str, str, str], None]) -> None:
    with pipe:
        for line in pipe:
            write(stream, line, "cmd")
