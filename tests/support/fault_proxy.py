"""An HTTP proxy in front of moto's server that fails requests on demand, as S3 does
under load or in an outage (503 ``SlowDown`` answers, connections reset mid-request), or
as a bucket policy does (403 ``AccessDenied``).

The client talks to the proxy as its endpoint; requests of the chosen methods fail
while a fault is set, everything else is passed to moto unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Fault = Literal["slowdown", "reset", "deny"]
ANSWERS = {
    "slowdown": (503, b"SlowDown", b"Please reduce your request rate."),
    "deny": (403, b"AccessDenied", b"Access Denied"),
}
# Hop-by-hop headers: they describe one connection, not the request.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


class FaultProxy:
    def __init__(self, upstream: str, methods: frozenset[str] = frozenset({"PUT", "POST"})):
        self.upstream = urlsplit(upstream)
        self.methods = methods
        self.fault: Fault | None = None
        self.faulted = 0  # requests failed so far
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def set(self, fault: Fault | None) -> None:
        with self._lock:
            self.fault = fault

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            if self.fault is None or method not in self.methods:
                return None
            self.faulted += 1
            return self.fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self._body()
                fault = proxy._take_fault(self.command)
                if fault == "reset":
                    self._reset()
                    return
                if fault is not None:
                    status, code, message = ANSWERS[fault]
                    error = b"<Error><Code>%s</Code><Message>%s</Message></Error>" % (code, message)
                    self._answer(status, {"Content-Type": "application/xml"}, error)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    kept = {
                        k: v
                        for k, v in response.getheaders()
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                    }
                    self._answer(response.status, kept, data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def finish(self) -> None:
                with contextlib.suppress(OSError):  # the connection was reset on purpose
                    super().finish()

        return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
