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

A client that waits may be gone by the time its answer is ready (a worker killed
during its long poll): ``client_gone`` tells, from the request's socket, whether
the peer has closed the connection, so a job is never handed to nobody.

Nothing blocks the loop. A greenlet runs until it waits, and while it runs no other
request of its process moves: one that computes for 100 ms holds up every long poll,
event stream and health check of the process for as long. So work that takes more than
a few milliseconds is bounded (a vertex limit on what is drawn), linear, or run off the
loop: C code that lets go of the GIL (argon2) on a small thread pool with ``offload``,
pure-Python work (checking a batch's inputs) in a forked child with ``in_child``; a
thread does not help there, it holds the GIL. Both are in ``webapi.offload``.
``webapi.loop_monitor`` times every greenlet's run: the longest is a metric, and the
end-to-end tests fail on any run past 100 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import gevent
import gevent.lock
import gevent.os
import gevent.threadpool
from gevent import monkey
from gevent.socket import wait_read
from gunicorn.workers.ggevent import GeventWorker
from psycogreen.gevent import patch_psycopg

from shared.settings import env_bool, env_float
from webapi.headers import data_headers

T = TypeVar("T")

HEADER_TIMEOUT_VAR = "SHOAL_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_VAR = "SHOAL_BODY_TIMEOUT_SECONDS"
_CLIENT = "shoal_client"
# Where servers put the request's connection: gunicorn, and werkzeug's (the tests').
_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")
# The kernel's poll even under gevent: a probe must answer at once, never switch greenlets.
_poll = monkey.get_original("select", "poll")
def read_timeouts(env: Mapping[str, str]) -> tuple[float, float]:
    """(header, body) read timeouts in seconds, validated."""
    return (
        env_float(env, HEADER_TIMEOUT_VAR, 10.0, 0.1, 3600),
        env_float(env, BODY_TIMEOUT_VAR, 10.0, 0.1, 3600),
    )


class ShoalGeventWorker(GeventWorker):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's gevent worker, with psycogreen, per-phase read timeouts and a request
    body that lets the loop turn while it is read."""

    def patch(self) -> None:
        super().patch()
        patch_psycopg()

    def load_wsgi(self) -> None:
        self.read_timeouts = read_timeouts(os.environ)
        # The app's own setting (webapi.ui.settings; the routes may not import the dashboard).
        https_only = env_bool(os.environ, "SHOAL_UI_SECURE_COOKIES", False)
        self.security_headers = data_headers(https_only=https_only)
        super().load_wsgi()
        # The app's own WSGI callable, as a Flask middleware is installed: ``self.wsgi``
        # stays the app (gunicorn_conf enters its app context).
        self.wsgi.wsgi_app = yielding_input(self.wsgi.wsgi_app)

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        """gunicorn's own answer to a request it could not parse or serve (400, 414, 431,
        500 ...), written with the security headers every answer of the app carries."""
        super().handle_error(req, _WithHeaders(client, self.security_headers), addr, exc)

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        setattr(gevent.getcurrent(), _CLIENT, client)
        super().handle(listener, client, addr)

    def timeout_ctx(self) -> NextRequest:
        """Wraps each read of a request's headers (gunicorn's keep-alive loop)."""
        header, body = self.read_timeouts
        client = getattr(gevent.getcurrent(), _CLIENT)
        return NextRequest(
            client,
            idle=float(self.cfg.keepalive),
            header=header,
            body=body,
            security_headers=self.security_headers,
        )


# A request body is read in runs of at most this many bytes between two turns of the loop.
READ_BYTES_PER_TURN = 1 << 20


def yielding_input(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` with a request body that lets the loop turn as it is read (see YieldingInput)."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["wsgi.input"] = YieldingInput(environ["wsgi.input"])
        return app(environ, start_response)

    return wrapped


class YieldingInput:
    """A request body that gives the loop a turn after each ``READ_BYTES_PER_TURN`` read.

    Reading a body that is already in the socket's buffer never waits, so never switches:
    a batch's 12 MB, read 64 KiB at a time, is otherwise one run of about 100 ms.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._unyielded = 0

    def read(self, *size: int) -> bytes:
        return self._count(self._stream.read(*size))

    def readline(self, *size: int) -> bytes:
        return self._count(self._stream.readline(*size))

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _count(self, data: bytes) -> bytes:
        self._unyielded += len(data)
        if self._unyielded >= READ_BYTES_PER_TURN:
            self._unyielded = 0
            gevent.sleep(0)
        return data


class NextRequest:
    """Waits ``idle`` s for a request to start, then ``header`` s for all its headers."""

    def __init__(
        self,
        client: socket.socket,
        *,
        idle: float,
        header: float,
        body: float,
        security_headers: Mapping[str, str],
    ) -> None:
        self.client = client
        self.security_headers = security_headers
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
            message = "The request's headers did not arrive in time."
            _send_408(self.client, message, self.security_headers)
            return True  # no request: gunicorn closes the connection
        self.client.settimeout(self.body)
        return False


def _send_408(client: socket.socket, message: str, security: Mapping[str, str]) -> None:
    """The answer to a request whose headers never arrived: written here, as no app saw
    the request, with the security headers every answer of the app carries."""
    body = json.dumps({"message": message}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        _WithHeaders(client, security).sendall(head + body)


class _WithHeaders:
    """A client's socket for an answer written outside the app, in one ``sendall``:
    ``headers`` go in after its status line."""

    def __init__(self, client: socket.socket, headers: Mapping[str, str]) -> None:
        self._client = client
        self._lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def sendall(self, data: bytes) -> None:
        status, end, rest = data.partition(b"\r\n")
        self._client.sendall(status + end + self._lines.encode("latin-1") + rest if end else data)


def client_gone(environ: Mapping[str, Any]) -> Callable[[], bool]:
    """A check, callable any number of times, of whether the request's client has
    closed its connection (or reset it). Without a socket (Flask's test client) the
    client is never taken for gone.

    End of file from the client means gone: an HTTP client does not half-close a
    connection it still wants the answer on.
    """
    for key in _SOCKET_KEYS:
        sock = environ.get(key)
        if sock is not None:
            return partial(peer_closed, sock)
    return _never


def peer_closed(sock: socket.socket) -> bool:
    """Whether the peer closed or reset the connection; never waits and never consumes."""
    try:
        poller = _poll()
        poller.register(sock.fileno(), select.POLLIN)
        if not poller.poll(0):
            return False  # nothing to read: the connection is open and quiet
        # Readable: data (the client's next request) or the end of the stream.
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ValueError:
        return False  # a socket that cannot peek (TLS): cannot tell, so not gone
    except OSError:
        return True  # reset by the peer, or closed


def _never() -> bool:
    return False


class Delivery:
    """A response body that only a client still there is sent, and that is undone
    (``undo(reason)``, once) when it was not sent: the client had gone before it, or
    writing it failed. A WSGI server iterates the body to its end once it has
    written it, and calls ``close`` in every case.

    What is written to a client that dies after this check is beyond our reach; the
    job's lease ends that one.
    """

    def __init__(self, body: bytes, gone: Callable[[], bool], undo: Callable[[str], None]) -> None:
        self._body = body
        self._gone = gone
        self._undo = undo
        self._settled = False

    def __iter__(self) -> Iterator[bytes]:
        if self._gone():
            self._settle("client gone")
            return
        yield self._body
        self._settled = True  # the server asks for more only once it has written it

    def close(self) -> None:
        self._settle("not written")

    def _settle(self, reason: str) -> None:
        if not self._settled:
            self._settled = True
            self._undo(reason)
