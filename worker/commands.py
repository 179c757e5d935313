"""``shoal worker``: run the worker runtime in this process."""

from __future__ import annotations

import logging
import os
import sys

import click

from shared.client import ShoalClient
from shared.enums import WorkerExit
from shared.errors import SettingsError
from shared.jobtypes import default_registry
from shared.logs import configure_logging
from worker.capture import OutputCapture
from worker.handlers import load_handlers
from worker.identity import discover_identity
from worker.runtime import Worker
from worker.settings import WorkerSettings


@click.command("worker")
@click.option(
    "--job-types",
    multiple=True,
    help="Job types to run, e.g. TEST,POLYGON_STATS (default: $SHOAL_JOB_TYPES).",
)
@click.option(
    "--concurrency", type=int, help="Jobs at once (default: $SHOAL_WORKER_CONCURRENCY or 1)."
)
@click.option(
    "--idle-timeout",
    type=float,
    help="Exit after this many seconds without a job; 0 = never "
    "(default: $SHOAL_IDLE_TIMEOUT_SECONDS or 300).",
)
def worker(job_types: tuple[str, ...], concurrency: int | None, idle_timeout: float | None) -> None:
    """Claim jobs from the API, run them, upload their results, report; exit when idle."""
    env = dict(os.environ)
    if job_types:
        env["SHOAL_JOB_TYPES"] = ",".join(job_types)
    if concurrency is not None:
        env["SHOAL_WORKER_CONCURRENCY"] = str(concurrency)
    if idle_timeout is not None:
        env["SHOAL_IDLE_TIMEOUT_SECONDS"] = str(idle_timeout)
    try:
        specs = default_registry()
        settings = WorkerSettings.from_env(env, specs)
        handlers = load_handlers()
        identity = discover_identity(env)
    except SettingsError as error:
        click.echo(f"shoal worker: {error.message}", err=True)
        sys.exit(WorkerExit.BAD_SETTINGS)
    capture = OutputCapture()
    capture.install(fds=settings.capture_fds)
    configure_logging(settings.log_level, stream=capture.console)
    with ShoalClient.from_settings(settings.client) as client:
        try:
            runtime = Worker(settings, client, identity, specs, handlers, capture)
        except SettingsError as error:
            click.echo(f"shoal worker: {error.message}", err=True)
            sys.exit(WorkerExit.BAD_SETTINGS)
        code = runtime.run()
    if code == WorkerExit.HANDLER_STUCK:
        # A stuck thread may never give interpreter shutdown its turn: leave at once.
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
