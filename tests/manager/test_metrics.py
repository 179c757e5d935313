"""The manager's metrics: per-type fleet gauges, and /metrics served on a port."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx

from manager.backends.base import Worker, WorkerStatus
from manager.metrics import ManagerMetrics


def worker(n: int, job_type: str, status: WorkerStatus) -> Worker:
    return Worker(f"arn:{n}", (job_type,), status, datetime.now(UTC))


def test_fleet_gauges_count_by_type_and_status_and_drop_to_zero() -> None:
    metrics = ManagerMetrics()
    value = metrics.registry.get_sample_value
    metrics.observe_fleet(
        ["TEST", "POLYGON_STATS"],
        [worker(1, "TEST", WorkerStatus.RUNNING), worker(2, "TEST", WorkerStatus.STARTING)],
    )
    labels = {"job_type": "TEST", "status": "RUNNING"}
    assert value("shoal_manager_fleet_workers", labels) == 1
    assert value("shoal_manager_fleet_workers", {**labels, "status": "STARTING"}) == 1
    assert value("shoal_manager_fleet_workers", {**labels, "job_type": "POLYGON_STATS"}) == 0
    metrics.observe_fleet(["TEST", "POLYGON_STATS"], [])
    assert value("shoal_manager_fleet_workers", labels) == 0


def test_metrics_are_served_over_http() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    metrics = ManagerMetrics()
    metrics.launches.labels("TEST").inc(3)
    metrics.serve(port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        metrics.close()
    assert 'shoal_manager_launches_total{job_type="TEST"} 3.0' in text
    assert "shoal_manager_lease_held" in text
