"""``shoal manager``: run the capacity manager until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import uuid
from types import FrameType

import click

from manager.api import ManagerApi
from manager.backends.base import ComputeBackend
from manager.backends.local import LocalBackend
from manager.loop import Manager, run
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings
from shared.client import RetryPolicy, ShoalClient
from shared.errors import SettingsError
from shared.logs import configure_logging

log = logging.getLogger(__name__)


def holder_id() -> str:
    """Unique per process: a restarted manager is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_backend(settings: ManagerSettings, holder: str) -> ComputeBackend:
    if settings.backend == "ecs":
        from manager.backends.ecs import EcsBackend  # noqa: PLC0415 - boto3 (~0.2 s) only on the ECS path

        targets = {n: c.ecs for n, c in settings.job_types.items() if c.ecs is not None}
        return EcsBackend(
            targets,
            api_url=settings.api_url,
            holder=holder,
            region=settings.aws_region,
            # Each AWS call ends well inside the lease: a third of it.
            budget_seconds=settings.lease_seconds / 3,
            registered=settings.registered_ecs,
        )
    targets_local = {n: c.local for n, c in settings.job_types.items() if c.local is not None}
    worker_key = settings.worker_api_key or settings.api_key
    return LocalBackend(targets_local, api_url=settings.api_url, api_key=worker_key)


def build_manager(settings: ManagerSettings, holder: str | None = None) -> Manager:
    holder = holder or holder_id()
    # Short retries: a tick must finish well within the lease's lifetime.
    retry = RetryPolicy(attempts=3, total_seconds=min(10.0, settings.lease_seconds / 3))
    client = ShoalClient(
        settings.api_url,
        api_key=settings.api_key,
        timeout=min(30.0, settings.lease_seconds / 2),
        retry=retry,
    )
    return Manager(
        settings,
        ManagerApi(client),
        build_backend(settings, holder),
        holder=holder,
        metrics=ManagerMetrics(),
    )


@click.command("manager")
def manager() -> None:
    """Scale workers with the queue's depth, per job type (one active manager at a time)."""
    try:
        settings = ManagerSettings.from_env()
    except SettingsError as error:
        click.echo(f"shoal manager: {error.message}", err=True)
        sys.exit(2)
    configure_logging()
    instance = build_manager(settings)
    if settings.metrics_port:
        instance.metrics.serve(settings.metrics_port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(signum).name, extra={"action": "shutdown"})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "manager started",
        extra={"action": "start", "backend": settings.backend, "holder": instance.holder},
    )
    try:
        run(instance, stop, settings.tick_seconds)
    finally:
        instance.close()
        instance.api.client.close()
    log.info("manager stopped", extra={"action": "stopped"})
