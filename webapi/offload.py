"""Work taken off the event loop (see ``webapi.serving``: nothing blocks the loop).

C code that lets go of the GIL (argon2) runs on a small thread pool with ``offload``;
pure-Python work (checking a batch's inputs) runs in a forked child with ``in_child``:
a thread does not help there, it holds the GIL. Both run inline when the process does
not serve under gevent, so the code that calls them knows nothing of the serving model.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import gevent
import gevent.lock
import gevent.os
import gevent.threadpool
from gevent import monkey

from shared.errors import ShoalError

T = TypeVar("T")

# Forked children at once per process (a fork gives each gunicorn worker its own count);
# more wait their turn. Each holds its work's memory until it exits (a batch of 32 MiB,
# the body limit, parses into about 340 MiB), so this bounds what checking batches take.
CHILDREN_AT_ONCE = 1
# Work taken off the loop runs at this nice value, a forked child and a pool thread alike
# (Linux keeps nice per thread): the loops that answer requests get a contended CPU first,
# about ten to one, and the work has whatever they leave. A pool thread shares the GIL
# with the loop, but holds it only around its C call, microseconds a hash.
OFFLOADED_NICENESS = 10
_children = gevent.lock.BoundedSemaphore(CHILDREN_AT_ONCE)
# Threads per process for offloaded work (not gevent's own pool, which resolves names).
# Each takes a CPU while it hashes: more would take what the loops and the database
# need, and a burst of logins waits its turn, in greenlets, either way.
OFFLOAD_THREADS = 1


def offload(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a thread of this process's pool under gevent, else inline.

    For C code that lets go of the GIL while it works (argon2): it then runs beside the
    loop, ``OFFLOAD_THREADS`` at a time. Pure-Python work would hold the GIL, and the loop
    with it: see ``in_child``.
    """
    if not monkey.is_module_patched("threading"):
        return function(*args)
    return cast(T, _offload_pool().apply(_niced, (function, *args)))


def _niced(function: Callable[..., T], *args: Any) -> T:
    """On a pool thread: run at OFFLOADED_NICENESS (set once; 0 is this thread on Linux)."""
    if sys.platform == "linux" and os.getpriority(os.PRIO_PROCESS, 0) < OFFLOADED_NICENESS:
        os.setpriority(os.PRIO_PROCESS, 0, OFFLOADED_NICENESS)
    return function(*args)


@functools.cache
def _offload_pool() -> gevent.threadpool.ThreadPool:
    """This process's threads for offloaded work, made on first use (after the fork)."""
    return gevent.threadpool.ThreadPool(OFFLOAD_THREADS)


def in_child(function: Callable[..., T], *args: Any, limit: float | None = None) -> T:
    """``function(*args)`` in a forked copy of this process under gevent, else inline.

    For pure-Python work: the child computes on another CPU while the loop goes on. It
    sees whatever this process held at the call (the app, the request, ``args``); what it
    returns, or the ``ShoalError`` it raises, comes back pickled. Any other failure, or a
    child that dies, is a ``RuntimeError``; a child still at work after ``limit`` seconds
    is killed and is a ``TimeoutError``. At most ``CHILDREN_AT_ONCE`` at once. The child
    must not touch the database: its connections are this process's.
    """
    if not monkey.is_module_patched("os"):
        return function(*args)
    return _in_fork(function, args, limit)


def _in_fork(function: Callable[..., T], args: tuple[Any, ...], limit: float | None = None) -> T:
    with _children:
        read_end, write_end = os.pipe()
        pid = os.fork()  # gevent's: os.waitpid below waits without blocking the loop
        if pid == 0:
            _run_in_child(write_end, read_end, function, args, limit)
        os.close(write_end)
        try:
            with gevent.Timeout(limit, TimeoutError(f"a forked child ran past {limit} s")):
                data = _read_to_end(read_end)
        except BaseException:  # past its limit, or nobody waits for its answer any more
            os.kill(pid, signal.SIGKILL)
            raise
        finally:
            os.close(read_end)
            _, status = os.waitpid(pid, 0)
    try:
        kind, outcome = pickle.loads(data)  # noqa: S301 - our own child's answer
    except (pickle.UnpicklingError, EOFError, ValueError):
        raise RuntimeError(f"a forked child died without answering (status {status})") from None
    if kind == "raise":
        raise outcome
    if kind == "crash":
        raise RuntimeError(f"a forked child failed:\n{outcome}")
    return cast(T, outcome)


def _run_in_child(
    write_end: int,
    read_end: int,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    limit: float | None,
) -> NoReturn:
    """The child's whole life: run, write the outcome, exit without cleaning up (what it
    shares with the parent, database connections first, is the parent's to close). Past
    its limit in CPU seconds the kernel ends it, should its parent be gone (SIGKILLed)."""
    code = 0
    try:
        os.close(read_end)
        os.nice(OFFLOADED_NICENESS)
        if limit is not None:
            cpu_seconds = math.ceil(limit) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        try:
            outcome: tuple[str, Any] = ("value", function(*args))
        except ShoalError as error:
            outcome = ("raise", error)
        except BaseException:  # every failure goes back to the parent
            outcome = ("crash", traceback.format_exc())
        with open(write_end, "wb") as pipe:  # a blocking write: no loop runs here
            pipe.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # the parent sees a child without an answer
        code = 1
    finally:
        os._exit(code)


def _read_to_end(fd: int) -> bytes:
    gevent.os.make_nonblocking(fd)
    chunks = []
    while chunk := gevent.os.nb_read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
