"""The transport of long polls, which a stopping program cuts off at once.

httpx cannot interrupt a request that another thread is waiting on: closing the
client leaves the socket open until the answer comes, so the API goes on waiting
for a client that has left, and may take a job for it. Long polls therefore go
through connections of their own, which this transport remembers (httpcore's
``trace`` extension reports each one it opens), and ``abort`` shuts them down: the
waiting request fails at once, and the API sees the connection close.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from typing import Any

import httpx

_OPENED = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class AbortableTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        # Made at the first long poll: a client that never waits (the CLI, the manager)
        # does not pay for a second transport's TLS context.
        self._inner: httpx.HTTPTransport | None = None
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.aborted.is_set():
            raise httpx.ConnectError("the long poll was aborted", request=request)
        request.extensions = {**request.extensions, "trace": self._trace}
        with self._lock:
            if self._inner is None:
                self._inner = httpx.HTTPTransport()
            inner = self._inner
        return inner.handle_request(request)

    def abort(self) -> None:
        """End every long poll in flight now, and refuse new ones."""
        self.aborted.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            _shut(stream)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event not in _OPENED:
            return
        stream = info["return_value"]
        with self._lock:
            self._streams.add(stream)
        if self.aborted.is_set():  # opened while aborting
            _shut(stream)


def _shut(stream: Any) -> None:
    sock = stream.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already, or handed to its TLS stream
            sock.shutdown(socket.SHUT_RDWR)
