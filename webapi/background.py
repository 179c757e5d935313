"""A background thread per API process, started on first use and again after a fork."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    """Runs ``target(stop_event)`` in one daemon thread of the current process.

    gunicorn forks its workers, and a thread does not survive a fork: the pid check
    starts a fresh one in each process that uses it. Once stopped (the app closed) it
    stays stopped: a request still in flight does not start it again.
    """

    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self.name = name
        self.target = target
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._closed = False

    def ensure_started(self) -> None:
        if self._running_here():  # every request calls this: no lock when nothing to do
            return
        with self._lock:
            if self._closed or self._running_here():
                return
            self._pid = os.getpid()
            self.stopping.clear()
            self._thread = threading.Thread(
                target=self.target, args=(self.stopping,), name=self.name, daemon=True
            )
            self._thread.start()

    def _running_here(self) -> bool:
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def stop(self, timeout: float = 5) -> None:
        with self._lock:
            self._closed = True
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
