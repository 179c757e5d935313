"""A background thread per API process, started on first use and again after a fork."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    """Runs ``target(stop_event)`` in one daemon thread of the current process.

    gunicorn forks its workers, and a thread does not survive a fork: the pid check
    starts a fresh one in each process that uses it.
    """

    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self.name = name
        self.target = target
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self.stopping.clear()
            self._thread = threading.Thread(
                target=self.target, args=(self.stopping,), name=self.name, daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
