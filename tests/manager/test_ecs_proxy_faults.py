"""Real ``shoal manager`` processes against moto's ECS API over HTTP, behind a proxy
that injects faults: RunTask throttled for longer than the lease, RunTask connections
dropped for one job type, and every fleet read (ListTasks, DescribeTasks) dropped for
30 s while a worker dies."""

from __future__ import annotations

import http.client
import http.server
import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.chaos_fleet_ecs import AWS_ENV, CLUSTER, _tasks, moto_fargate
from manager.lost import RECONNECT_SECONDS
from shared.client import ShoalClient
from tests.e2e import live
from tests.e2e.conftest import SHOAL, LiveApi, jwt_pems, live_api, start_api  # noqa: F401

pytestmark = pytest.mark.slow
LEASE_SECONDS = 6
MAX_WORKERS = 3


class FaultProxy:
    """Forwards ECS API calls to moto; ``throttle`` and ``drop_type`` inject faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.throttle = False
        self.drop_type: str | None = None
        self.drop_reads = False
        self.calls: Counter[str] = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                proxy.calls[operation] += 1
                if operation == "RunTask" and proxy.throttle:
                    error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                    return self._answer(400, json.dumps(error).encode())
                if operation == "RunTask" and proxy.drop_type and proxy._of_type(body):
                    self.close_connection = True  # no answer at all
                    return None
                if operation in ("ListTasks", "DescribeTasks") and proxy.drop_reads:
                    self.close_connection = True
                    return None
                return self._answer(*proxy.forward(self.path, dict(self.headers), body))

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _of_type(self, body: bytes) -> bool:
        tags = json.loads(body or b"{}").get("tags", [])
        return {"key": "shoal:job-type", "value": self.drop_type} in tags

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Any, FaultProxy]]:
    (tmp_path / "logs").mkdir()
    with moto_fargate(tmp_path) as fargate:
        proxy = FaultProxy(fargate.endpoint)
        try:
            yield fargate, proxy
        finally:
            proxy.close()


def _manager(
    api: LiveApi,
    proxy: FaultProxy,
    td: str,
    log: Path,
    policy: dict[str, Any] | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    policy = policy or {"min": 0, "max": MAX_WORKERS, "cooldownSeconds": 0, "factor": 1}
    target = {"taskDefinition": td, "cluster": CLUSTER, "subnets": ["subnet-1"]}
    types = {name: {"policy": policy, "ecs": target} for name in ("TEST", "POLYGON_STATS")}
    env = {
        **live.base_env(),
        **AWS_ENV,
        "AWS_ENDPOINT_URL_ECS": proxy.url,
        "SHOAL_API_URL": api.url,
        "SHOAL_API_KEY": api.manager_key,
        "SHOAL_COMPUTE_BACKEND": "ecs",
        "SHOAL_MANAGER_TICK_SECONDS": "1",
        "SHOAL_MANAGER_LEASE_SECONDS": str(LEASE_SECONDS),
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps({"jobTypes": types}),
        **settings,
    }
    with log.open("wb") as out:
        return subprocess.Popen([SHOAL, "manager"], env=env, stdout=out, stderr=subprocess.STDOUT)


def _tasks_of(job_type: str) -> int:
    return sum(
        1
        for task in _tasks().values()
        if {"key": "shoal:job-type", "value": job_type} in task.tags
        and task.last_status == "RUNNING"
    )


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_throttled_longer_than_the_lease_two_managers_launch_no_more_than_the_target(
    live_api: LiveApi,  # noqa: F811
    proxied: tuple[Any, FaultProxy],
    tmp_path: Path,
) -> None:
    fargate, proxy = proxied
    with live_api.client() as client:
        for n in range(8):
            client.submit_job("TEST", {"id": n})
        proxy.throttle = True
        managers = [
            _manager(live_api, proxy, fargate.task_definition, tmp_path / f"manager-{n}.log")
            for n in range(2)
        ]
        try:
            _wait(lambda: proxy.calls["RunTask"] >= 2, 60, "throttled RunTask calls")
            throttled_at = time.monotonic()
            _wait(lambda: time.monotonic() - throttled_at > 2 * LEASE_SECONDS, 30, "the throttle")
            proxy.throttle = False
            _wait(lambda: _tasks_of("TEST") >= MAX_WORKERS, 90, "the launch after the throttle")
            # Several more ticks of fleet reads: nobody launches past the target.
            listed = proxy.calls["ListTasks"]
            _wait(lambda: proxy.calls["ListTasks"] >= listed + 8, 60, "more ticks")
            assert _tasks_of("TEST") == MAX_WORKERS
            assert all(m.poll() is None for m in managers)
        finally:
            _stop(managers)
    logs = "".join((tmp_path / f"manager-{n}.log").read_text() for n in range(2))
    assert '"ecs_throttled"' in logs or '"launch_failed"' in logs
    assert "tick failed" not in logs


def test_dropped_run_task_connections_fail_one_type_and_the_fleet_is_still_reported(
    live_api: LiveApi,  # noqa: F811
    proxied: tuple[Any, FaultProxy],
    tmp_path: Path,
) -> None:
    fargate, proxy = proxied
    proxy.drop_type = "TEST"
    with live_api.client() as client:
        for n in range(6):
            client.submit_job("TEST", {"id": n})
        client.submit_job("POLYGON_STATS", {"polygon": _SQUARE})
        manager = _manager(live_api, proxy, fargate.task_definition, tmp_path / "manager.log")
        try:
            _wait(lambda: _tasks_of("POLYGON_STATS") >= 1, 60, "the other type's launch")
            _wait(lambda: _reported(client, "POLYGON_STATS"), 30, "the fleet report")
            assert _tasks_of("TEST") == 0
        finally:
            _stop([manager])
    logs = (tmp_path / "manager.log").read_text()
    assert '"launch_failed"' in logs and "ConnectionClosedError" in logs
    assert "tick failed" not in logs


_SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}


def _reported(client: ShoalClient, job_type: str) -> bool:
    workers = client.admin_workers().get("workers", [])
    return any(job_type in w.get("jobTypes", []) for w in workers)


READ_FAULT_SECONDS = 30


def test_a_read_fault_of_30_s_replaces_a_lost_worker_reports_stale_and_gives_the_lease_up(
    live_api: LiveApi,  # noqa: F811
    proxied: tuple[Any, FaultProxy],
    tmp_path: Path,
) -> None:
    """The workers are real ``shoal worker`` processes (FakeFargate runs one per task);
    one is SIGKILLed while the manager cannot read ECS: the API stops hearing from it,
    the manager stops its task and launches a replacement, which finishes its job."""
    fargate, proxy = proxied
    fargate.start(live_api.worker_key, tmp_path / "work")
    # A long cooldown: only the replacement of a lost worker launches inside it.
    policy = {"min": 0, "max": 2, "cooldownSeconds": 600, "factor": 1}
    log = tmp_path / "manager.log"
    with live_api.client() as client:
        ids = [
            client.submit_job("TEST", {"id": n, "durationSeconds": 40})["jobId"] for n in range(2)
        ]
        manager = _manager(
            live_api,
            proxy,
            fargate.task_definition,
            log,
            policy,
            SHOAL_MANAGER_SILENT_SECONDS="6",
        )
        started = time.monotonic()
        try:
            _wait(lambda: _in_progress(client, ids) == 2, 90, "both jobs running")
            # A manager judges silence once the API has answered it for a while.
            _wait(lambda: time.monotonic() - started > RECONNECT_SECONDS, 60, "the manager")
            proxy.drop_reads = True
            faulted_at = time.monotonic()
            run_tasks = proxy.calls["RunTask"]
            assert fargate.kill_one(manager, random.Random(1))
            # The fault lasts until all this is seen, and at least READ_FAULT_SECONDS.
            _wait(lambda: proxy.calls["RunTask"] > run_tasks, 45, "a replacement launched")
            _wait(lambda: _tasks_of("TEST") == 2, 30, "the replacement running")
            _wait(lambda: client.admin_workers()["stale"], 20, "the fleet reported stale")
            during = client.admin_workers()
            _wait(lambda: time.monotonic() - faulted_at > READ_FAULT_SECONDS, 40, "the fault")
            proxy.drop_reads = False
            _wait(lambda: not client.admin_workers()["stale"], 30, "a fresh fleet report")
            _wait(lambda: _ended(client, ids), 90, "both jobs to end")
            statuses = [client.get_job(i)["status"] for i in ids]
            assert manager.poll() is None
        finally:
            _stop([manager])
    logs = log.read_text()
    assert statuses == ["SUCCEEDED", "SUCCEEDED"], logs
    assert "ConnectionClosedError" in during["error"] and during["ageSeconds"] > 0
    assert '"action": "fleet_read_error"' in logs and '"action": "lease_given_up"' in logs
    assert '"action": "worker_lost"' in logs and "no contact with the API" in logs
    assert proxy.calls["StopTask"] >= 1  # the silent worker's task was stopped
    assert "tick failed" not in logs


def _in_progress(client: ShoalClient, ids: list[int]) -> int:
    return sum(client.get_job(i)["status"] == "IN_PROGRESS" for i in ids)


def _ended(client: ShoalClient, ids: list[int]) -> bool:
    return all(client.get_job(i)["status"] not in ("PENDING", "IN_PROGRESS") for i in ids)
