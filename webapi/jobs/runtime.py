"""What the jobs routes share in one process: queue, reader, logs, storage, events, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app

from shared.jobtypes.builtin import BUILTIN_TYPES
from shared.storage import ResultStorage, make_storage
from webapi.events.hub import JobEventHub
from webapi.events.slots import Slots
from webapi.jobs.housekeeping import Housekeeping
from webapi.jobs.settings import JobsSettings
from webapi.jobs.storage_cleanup import StorageCleanup, storage_resolver
from webapi.jobtypes.catalogue import Catalogue
from webapi.jobtypes.wire import FixedDocs
from webapi.metrics import Metrics
from webapi.services import Services
from webapi.store.job_logs import JobLogs
from webapi.store.queue import Queue, StorageTarget
from webapi.store.queue_batches import Batches
from webapi.store.queue_reads import QueueReader
from webapi.store.sql.job_types import CHANNEL as JOB_TYPES_CHANNEL
from webapi.store.workers import ContactBook

EXTENSION = "shoal_jobs"


@dataclass(frozen=True)
class JobsRuntime:
    settings: JobsSettings
    catalogue: Catalogue  # every job type: built-in, entry-point and registered
    fixed_docs: FixedDocs  # the built-in and entry-point types as documents
    queue: Queue
    batches: Batches
    reader: QueueReader
    logs: JobLogs
    storage: ResultStorage
    hub: JobEventHub
    streams: Slots  # open event streams per credential
    housekeeping: Housekeeping
    cleanup: StorageCleanup
    metrics: Metrics
    contacts: ContactBook  # when each worker was last heard from (the manager reads it)

    def start(self) -> None:
        """Start this process's listener and sweep (again after a fork)."""
        self.hub.ensure_started()
        self.housekeeping.ensure_started()
        self.cleanup.ensure_started()

    def stop(self) -> None:
        self.cleanup.stop()
        self.housekeeping.stop()
        self.hub.stop()


def init_jobs(app: Flask, services: Services, settings: JobsSettings) -> JobsRuntime:
    storage = make_storage(settings.storage)
    fixed = settings.registry(services.registry)
    builtin = {spec.name for spec in BUILTIN_TYPES}
    sources = {name: "builtin" if name in builtin else "plugin" for name in fixed.names()}
    registry = Catalogue(services.engine, fixed, sources)
    target = StorageTarget(storage.scheme, storage.base_uri())
    queue = Queue(services.engine, registry, target, fair_share=settings.fair_share)
    metrics = Metrics(lambda: {t: (d.pending, d.in_progress) for t, d in queue.demand().items()})
    runtime = JobsRuntime(
        settings=settings,
        catalogue=registry,
        fixed_docs=FixedDocs(datetime.now(UTC)),
        queue=queue,
        batches=Batches(services.engine, registry),
        reader=QueueReader(services.engine),
        logs=JobLogs(services.engine, registry, settings.log_limit_bytes),
        storage=storage,
        hub=JobEventHub(services.engine, recheck_seconds=settings.claim_recheck_seconds),
        streams=Slots(),
        housekeeping=Housekeeping(
            queue,
            sweep_seconds=settings.sweep_seconds,
            retention_days=settings.retention_days,
            webhook_retention_days=services.settings.webhooks.retention_days,
            on_timed_out=lambda t, n: metrics.jobs_finished.labels(t, "TIMED_OUT").inc(n),
        ),
        cleanup=StorageCleanup(
            services.engine,
            storage_resolver(storage, settings.storage),
            every_seconds=settings.sweep_seconds,
            retry_seconds=settings.cleanup_retry_seconds,
        ),
        metrics=metrics,
        contacts=ContactBook(services.engine),
    )
    # A registered type changed in any process: this one reloads it (see Catalogue).
    runtime.hub.listen(JOB_TYPES_CHANNEL, registry.on_notify)
    registry.follow(runtime.hub.connected.is_set)
    metrics.init_app(app)
    app.before_request(runtime.start)
    app.extensions[EXTENSION] = runtime
    return runtime


def jobs_runtime() -> JobsRuntime:
    found: JobsRuntime = current_app.extensions[EXTENSION]
    return found
