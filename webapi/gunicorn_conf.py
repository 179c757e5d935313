"""gunicorn settings for ``shoal webapi`` (``-c python:webapi.gunicorn_conf``).

gevent workers (``webapi.serving``): every connection is a greenlet, so thousands
of long-poll claims and event streams wait in one process without a thread each.
Flags given to ``shoal webapi`` override these.
"""

from __future__ import annotations

import gc
import os
import resource
import signal
import tempfile
import threading
from typing import Any

import gevent
from gevent import monkey

bind = os.environ.get("SHOAL_WEBAPI_BIND", "0.0.0.0:5000")
workers = int(os.environ.get("SHOAL_WEBAPI_WORKERS", "2"))
worker_class = os.environ.get("SHOAL_WEBAPI_WORKER_CLASS", "webapi.serving.ShoalGeventWorker")
# Open connections per process (gevent), each a greenlet; past it, accepts wait.
worker_connections = int(os.environ.get("SHOAL_WEBAPI_CONNECTIONS", "10000"))
threads = int(os.environ.get("SHOAL_WEBAPI_THREADS", "16"))  # gthread only
# gevent workers heartbeat from their hub loop, so a long request does not trip this.
timeout = 90
graceful_timeout = 30
keepalive = 75  # above the ALB idle timeout (deploy: IDLE_TIMEOUT_SECONDS), so no 502s
# Each worker builds its own app, engine and pool after the fork.
preload_app = False
accesslog = None
# gunicorn's control socket has one default path per user: several APIs on one
# machine (shoal dev beside tests) would overwrite each other's. shoal does not use it.
control_socket_disable = True
errorlog = "-"

# Each connection is a file descriptor: allow as many as the hard limit does.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 65536 if _hard == resource.RLIM_INFINITY else _hard
if _soft != resource.RLIM_INFINITY and _soft < _want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))

# Metrics from every worker process are aggregated at scrape time: prometheus-client
# writes them to files in this directory (set before any worker imports it).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shoal-metrics-")


def child_exit(server: object, worker: object) -> None:
    # prometheus_client picks its value class when first imported: only once
    # PROMETHEUS_MULTIPROC_DIR is set above, or the workers forked after count in memory.
    from prometheus_client import multiprocess  # noqa: PLC0415 - after the variable is set

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]


def post_worker_init(worker: Any) -> None:
    """Once the worker has its app. On any stop signal, wake the long polls and event
    streams first: a stopping worker waits for its requests in flight, and a waiting
    claim would hold it for its wait. Then watch its event loop."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        _drain_first(worker, signum)
    # The app's own objects live as long as the process: out of the cyclic collector's
    # sight, a full collection walks only what requests made since. Otherwise one walks
    # them all, and a request that parses a large payload (a polygon of 50,000 vertices)
    # sets one off every time: a tenth of a second with no other request moving.
    gc.freeze()
    _watch_the_loop(worker)


def _watch_the_loop(worker: Any) -> None:
    """Time the event loop's blocks (``webapi.loop_monitor``): the longest goes to
    ``/metrics``, and each past ``SHOAL_LOOP_BLOCK_REPORT_MS`` (when set) to the log."""
    if not monkey.is_module_patched("threading"):
        return  # gthread: a thread per request, no shared loop
    # In the worker, as drain_app below: the master never imports the app.
    from webapi.jobs.runtime import jobs_runtime  # noqa: PLC0415 - never in the master
    from webapi.loop_monitor import LoopMonitor, report_after  # noqa: PLC0415 - likewise

    with worker.wsgi.app_context():
        gauge = jobs_runtime().metrics.loop_block
    LoopMonitor(report_after=report_after(os.environ), on_longest=gauge.set).start()


def _drain_first(worker: Any, signum: int) -> None:
    previous = signal.getsignal(signum)

    def handler(received: int, frame: Any) -> None:
        # Here, in the worker: the master must not import the app, which each worker
        # imports after gevent's monkey-patching (preload_app is off).
        from webapi.app import drain_app  # noqa: PLC0415 - never in the master

        # Not in the handler itself: draining takes a lock a request may hold.
        _off_the_handler(drain_app, worker.wsgi)
        if callable(previous):
            previous(received, frame)

    signal.signal(signum, handler)


def _off_the_handler(function: Any, *args: Any) -> None:
    """Run ``function`` soon, outside the signal handler: on a greenlet under gevent
    (whose handlers run in the event loop, where nothing may block), else a thread."""
    if monkey.is_module_patched("threading"):
        gevent.spawn(function, *args)
    else:
        threading.Thread(target=function, args=args, daemon=True).start()
