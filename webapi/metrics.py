"""Prometheus metrics of the web API, safe under gunicorn's several processes.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (``shoal webapi`` sets it before the
workers start) counters and histograms are written to files that any process
aggregates at scrape time; queue depth is read from the database at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping

import flask
from flask import Flask, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
START_BUCKETS = (0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
EXTENSION = "shoal_metrics"


class QueueDepth(Collector):
    """Pending and in-progress jobs per type, read when scraped."""

    def __init__(self, demand: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        self._demand = demand

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "shoal_queue_depth",
            "Jobs waiting or running, by type and status",
            labels=["type", "status"],
        )
        for job_type, (pending, in_progress) in sorted(self._demand().items()):
            gauge.add_metric([job_type, "PENDING"], pending)
            gauge.add_metric([job_type, "IN_PROGRESS"], in_progress)
        yield gauge


class Metrics:
    def __init__(self, demand: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        self.registry = CollectorRegistry()
        self.http_duration = Histogram(
            "shoal_http_request_duration_seconds",
            "HTTP request duration by route",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "shoal_jobs_finished",
            "Jobs that reached a terminal state, by type and status",
            ["type", "status"],
            registry=self.registry,
        )
        self.claim_latency = Histogram(
            "shoal_claim_to_start_seconds",
            "Time from a job's creation to its being claimed",
            ["type"],
            buckets=START_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "shoal_http_requests_in_flight",
            "Requests being served now (waiting ones included)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.claims_run = Counter(
            "shoal_claims_run",
            "Claim statements run, by whether they took a job (the herd check)",
            ["outcome"],
            registry=self.registry,
        )
        self.claims_for_gone_clients = Counter(
            "shoal_claims_for_gone_clients",
            "Claims whose client had closed its connection: skipped before a job was"
            " taken, or undone after (the job back in the queue, no attempt spent)",
            ["stage"],
            registry=self.registry,
        )
        self.waiting_claims = Gauge(
            "shoal_waiting_claims",
            "Claim requests waiting for a job now (summed over processes; tests wait on it)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.open_event_streams = Gauge(
            "shoal_open_event_streams",
            "Event streams open now",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.loop_block = Gauge(
            "shoal_loop_block_seconds_max",
            "The longest one greenlet held a process's event loop since it started, less "
            "the time the machine kept the process waiting for a CPU (max over processes)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self._depth = QueueDepth(demand)
        self.registry.register(self._depth)

    def render(self) -> bytes:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._depth)
        return generate_latest(registry)

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self
        app.before_request(self._start)
        app.after_request(self._observe)
        app.teardown_request(self._end)

    def _start(self) -> None:
        g.shoal_started = time.perf_counter()
        self.in_flight.inc()

    def _end(self, error: BaseException | None) -> None:
        if g.pop("shoal_started", None) is not None:
            self.in_flight.dec()

    def _observe(self, response):  # type: ignore[no-untyped-def]
        started = g.get("shoal_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            self.http_duration.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response


metrics_blp = flask.Blueprint("metrics", __name__)


@metrics_blp.get("/metrics")
def metrics_view() -> flask.Response:
    """Prometheus text exposition (no authentication: keep it on an internal port or path)."""
    metrics: Metrics = current_app.extensions[EXTENSION]
    body = metrics.render()
    return flask.Response(body, mimetype=CONTENT_TYPE_LATEST)
