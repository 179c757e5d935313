"""The manager's Prometheus metrics, in a registry of its own (no module-level state)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from manager.backends.base import Worker, WorkerStatus


class ManagerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.launches = Counter(
            "shoal_manager_launches", "Workers launched.", ["job_type"], registry=self.registry
        )
        self.launch_failures = Counter(
            "shoal_manager_launch_failures",
            "Launches refused, and workers that stopped before they came up.",
            ["job_type"],
            registry=self.registry,
        )
        self.workers_lost = Counter(
            "shoal_manager_workers_lost",
            "Workers that ran and then died (signal, OOM, Spot interruption) or stopped"
            " answering; replaced at once.",
            ["job_type"],
            registry=self.registry,
        )
        self.fleet = Gauge(
            "shoal_manager_fleet_workers",
            "Workers by job type and status, as read back at the last tick.",
            ["job_type", "status"],
            registry=self.registry,
        )
        self.lease_held = Gauge(
            "shoal_manager_lease_held",
            "1 while this manager holds the lease.",
            registry=self.registry,
        )
        self.fleet_read_errors = Counter(
            "shoal_manager_fleet_read_errors",
            "Ticks whose read of the fleet failed (they went on with the last one read).",
            registry=self.registry,
        )
        self.fleet_view_age = Gauge(
            "shoal_manager_fleet_view_age_seconds",
            "Seconds since the fleet was last read whole, while reads fail; 0 otherwise.",
            registry=self.registry,
        )
        self.tick_errors = Counter(
            "shoal_manager_tick_errors",
            "Ticks that failed and were skipped.",
            registry=self.registry,
        )
        self._server: Any = None

    def observe_fleet(self, job_types: Iterable[str], workers: Sequence[Worker]) -> None:
        counts = Tally((t, w.status.value) for w in workers for t in w.job_types)
        for job_type in {*job_types, *(t for t, _ in counts)}:
            for status in WorkerStatus:
                self.fleet.labels(job_type, status.value).set(counts[(job_type, status.value)])

    def serve(self, port: int) -> None:
        """Expose /metrics on ``port`` from a daemon thread."""
        self._server = start_http_server(port, registry=self.registry)

    def close(self) -> None:
        if isinstance(self._server, tuple):
            server = self._server[0]
            server.shutdown()
            server.server_close()
        self._server = None
