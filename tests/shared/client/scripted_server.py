"""A real HTTP server in a thread whose answers a test scripts, and which records requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # When set, the body is streamed as these chunks (no Content-Length), then the
    # connection closes; ``chunk_delay`` between them.
    chunks: list[str] | None = None
    chunk_delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Responder = Callable[[Recorded], Reply]


class ScriptedServer:
    """Answers each (method, path) with the next scripted reply; the last one repeats."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: dict[tuple[str, str], list[Reply | Responder]] = {}
        self._lock = threading.Lock()
        self.url = ""

    def on(self, method: str, path: str, *replies: Reply | Responder) -> None:
        with self._lock:
            self._script[(method, path)] = list(replies)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def reply_for(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            queue = self._script.get((recorded.method, recorded.path.split("?")[0]))
            if not queue:
                return Reply(404, {"message": "Not found"})
            step = queue.pop(0) if len(queue) > 1 else queue[0]
        return step(recorded) if callable(step) else step


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            recorded = Recorded(self.command, self.path, dict(self.headers.items()), body)
            reply = server.reply_for(recorded)
            time.sleep(reply.delay)
            if reply.chunks is not None:
                self._stream(reply)
                return
            payload = b"" if reply.body is None else _encode(reply.body)
            self.send_response(reply.status)
            content_type = "application/json" if not isinstance(reply.body, str) else "text/plain"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in reply.chunks or []:
                self.wfile.write(chunk.encode())
                self.wfile.flush()
                time.sleep(reply.chunk_delay)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

    return Handler


def _encode(body: Any) -> bytes:
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


@contextmanager
def serve() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(scripted))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield scripted
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
