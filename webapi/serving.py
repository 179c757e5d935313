"""How ``shoal webapi`` serves: gunicorn's gevent worker, with read timeouts.

Every connection is a greenlet, so a request that waits (a long-poll claim, an
event stream) costs a few kilobytes and no thread; psycogreen makes psycopg2 yield
to other greenlets while it waits on the database. The rest of the code keeps
using ``threading`` and ``queue``: gevent's monkey-patching makes them cooperative.

Three limits keep slow or silent clients from being served forever:

- idle keep-alive: a connection with no new request for ``keepalive`` seconds is
  closed (gunicorn's own setting, kept above a load balancer's idle timeout);
- headers: once a request's first byte has arrived, all its headers must arrive
  within ``SHOAL_HEADER_TIMEOUT_SECONDS``, else 408 and the connection is closed;
- body: each read of the body waits at most ``SHOAL_BODY_TIMEOUT_SECONDS`` for data,
  else 408 (raised as ``TimeoutError`` inside the app, see ``webapi.errors``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import gevent
from gevent.socket import wait_read
from gunicorn.workers.ggevent import GeventWorker
from psycogreen.gevent import patch_psycopg

from shared.settings import env_float

HEADER_TIMEOUT_VAR = "SHOAL_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_VAR = "SHOAL_BODY_TIMEOUT_SECONDS"
_CLIENT = "shoal_client"


def read_timeouts(env: Mapping[str, str]) -> tuple[float, float]:
    """(header, body) read timeouts in seconds, validated."""
    return (
        env_float(env, HEADER_TIMEOUT_VAR, 10.0, 0.1, 3600),
        env_float(env, BODY_TIMEOUT_VAR, 10.0, 0.1, 3600),
    )


class ShoalGeventWorker(GeventWorker):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's gevent worker, with psycogreen and per-phase read timeouts."""

    def patch(self) -> None:
        super().patch()
        patch_psycopg()

    def load_wsgi(self) -> None:
        self.read_timeouts = read_timeouts(os.environ)
        super().load_wsgi()

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        setattr(gevent.getcurrent(), _CLIENT, client)
        super().handle(listener, client, addr)

    def timeout_ctx(self) -> NextRequest:
        """Wraps each read of a request's headers (gunicorn's keep-alive loop)."""
        header, body = self.read_timeouts
        client = getattr(gevent.getcurrent(), _CLIENT)
        return NextRequest(client, idle=float(self.cfg.keepalive), header=header, body=body)


class NextRequest:
    """Waits ``idle`` s for a request to start, then ``header`` s for all its headers."""

    def __init__(self, client: socket.socket, *, idle: float, header: float, body: float) -> None:
        self.client = client
        self.idle = idle
        self.body = body
        self.timer = gevent.Timeout(header)

    def __enter__(self) -> None:
        self.client.settimeout(None)
        try:
            wait_read(self.client.fileno(), timeout=self.idle)
        except (TimeoutError, OSError):
            # gunicorn closes the connection quietly on StopIteration.
            raise StopIteration("idle keep-alive connection") from None
        self.timer.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.timer.close()
        if error is self.timer:
            _send_408(self.client, "The request's headers did not arrive in time.")
            return True  # no request: gunicorn closes the connection
        self.client.settimeout(self.body)
        return False


def _send_408(client: socket.socket, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        client.sendall(head + body)
