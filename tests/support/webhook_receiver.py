"""A real HTTP server that receives webhooks: it records every POST and answers each
with what the test's ``answer`` says (200 by default), and checks signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    def signed_with(self, secret: str) -> bool:
        """The receiver's check of ``Shoal-Signature``, as the README gives it."""
        t, v1 = (part.split("=", 1)[1] for part in self.headers["Shoal-Signature"].split(","))
        expected = hmac.new(secret.encode(), f"{t}.".encode() + self.body, hashlib.sha256)
        return hmac.compare_digest(v1, expected.hexdigest())


class Receiver:
    def __init__(self, answer: Callable[[Received], int] = lambda received: 200) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self.changed = threading.Condition()

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 60) -> None:
        """Until ``done(received)`` holds (AssertionError after ``timeout``)."""
        with self.changed:
            if not self.changed.wait_for(lambda: done(self.received), timeout=timeout):
                raise AssertionError(f"receiver got only {len(self.received)} requests")

    def ok(self) -> list[Received]:
        """The requests answered with a 2xx."""
        with self.changed:
            return [r for r in self.received if 200 <= r.answered < 300]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = dict(self.headers.items())
                status = receiver.answer(Received(headers, body, 0))
                # Recorded before the answer leaves: what the sender does next comes after.
                with receiver.changed:
                    receiver.received.append(Received(headers, body, status))
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def serving(self, port: int = 0) -> Iterator[int]:
        """Listen on 127.0.0.1 (``port``, or any free one) until the block ends; yields the port."""
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
