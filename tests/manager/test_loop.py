"""The manager's tick against the real web API (in-process WSGI, fresh database).

Local workers are stand-in processes that never claim, so the queue stays as the
test put it; ECS runs on moto with the clock injected, so backoff needs no sleeping.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from manager.api import ManagerApi
from manager.backends.base import ComputeBackend, WorkerStatus
from manager.backends.ecs_tasks import run_task_kwargs
from manager.backends.local import LocalBackend
from manager.loop import HEALTHY_AFTER_SECONDS, Manager
from manager.policy import ScalingPolicy
from manager.settings import ManagerSettings
from manager.targets import EcsTarget, JobTypeConfig, LocalTarget
from shared.client import ShoalClient
from tests.manager.conftest import API_URL
from tests.manager.ecs_support import (
    CallCounter,
    Sleeps,
    backend,
    ecs_world,
    register_task_definition,
    target,
)
from tests.webapi.conftest import IssuedKey, MakeUser

SLEEPER = LocalTarget(
    command=(
        sys.executable,
        "-c",
        "import signal, sys, time; "
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(60)",
    )
)
POLICY = ScalingPolicy(min=0, max=5, cooldown_seconds=0, sensitivity=2.0, factor=3.0)
Headers = dict[str, str]


def settings(
    backend_name: str, policy: ScalingPolicy = POLICY, **targets: EcsTarget | LocalTarget
) -> ManagerSettings:
    jobs = {
        name: JobTypeConfig(
            name,
            policy,
            ecs=t if isinstance(t, EcsTarget) else None,
            local=t if isinstance(t, LocalTarget) else None,
        )
        for name, t in targets.items()
    }
    return ManagerSettings(
        api_url=API_URL, api_key="k", backend=backend_name, job_types=jobs, tick_seconds=1
    )


@pytest.fixture
def manager_client(
    api_key: Callable[..., IssuedKey], api_client: Callable[[str], ShoalClient]
) -> ShoalClient:
    return api_client(api_key(("MANAGER",)).key)


@pytest.fixture
def analyst(make_user: MakeUser, auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(make_user(roles=("ANALYST",))[1])


@pytest.fixture
def admin_headers(admin: tuple[int, str], auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(admin[1])


def submit(client: FlaskClient, headers: Headers, count: int, job_type: str = "TEST") -> None:
    for n in range(count):
        payload: dict[str, Any] = {"id": n} if job_type == "TEST" else {"polygon": SQUARE}
        answer = client.post(
            "/api/jobs", json={"type": job_type, "inputPayload": payload}, headers=headers
        )
        assert answer.status_code == 200, answer.get_json()


SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}


@pytest.fixture
def local_manager(manager_client: ShoalClient) -> Iterator[Manager]:
    config = settings("local", TEST=SLEEPER)
    local = LocalBackend({"TEST": SLEEPER}, api_url=API_URL, api_key="k", stop_timeout=5)
    found = Manager(config, ManagerApi(manager_client), local, holder="local-test")
    yield found
    found.close()


def live_pids(manager: Manager) -> set[int]:
    return {int(w.task_arn.rsplit(":", 1)[1]) for w in manager.backend.fleet().workers if w.live}


@pytest.mark.slow
def test_local_burst_is_launched_once_and_admin_settings_are_obeyed(
    local_manager: Manager, client: FlaskClient, analyst: Headers, admin_headers: Headers
) -> None:
    submit(client, analyst, 10)
    assert local_manager.tick().launched == {"TEST": 3}  # 2·ln(10/3 + 1) → 3
    assert local_manager.tick().launched == {}  # the three are idle: no second launch
    reported = client.get("/api/admin/workers", headers=admin_headers).get_json()["workers"]
    assert len(reported) == 3 and {w["status"] for w in reported} == {"RUNNING"}

    client.post("/api/admin/scale", json={"desiredCount": 1}, headers=admin_headers)
    outcome = local_manager.tick()
    assert outcome.launched == {}
    assert sorted(w.status for w in outcome.workers) == ["RUNNING", "STOPPING", "STOPPING"]

    client.post("/api/admin/redeploy", headers=admin_headers)
    outcome = local_manager.tick()
    current = [w for w in outcome.workers if w.live]
    assert outcome.launched == {"TEST": 1} and [w.generation for w in current] == [1]

    client.post("/api/admin/scale", json={"desiredCount": 0}, headers=admin_headers)
    outcome = local_manager.tick()
    assert outcome.launched == {} and not any(w.live for w in outcome.workers)
    pids = {int(w.task_arn.rsplit(":", 1)[1]) for w in outcome.workers}
    local_manager.close()
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demand_without_configuration_is_logged_once(
    local_manager: Manager, client: FlaskClient, analyst: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    submit(client, analyst, 1, "POLYGON_STATS")
    with caplog.at_level(logging.WARNING, logger="manager.loop"):
        for _ in range(3):
            assert local_manager.tick().launched == {}
    flagged = [r for r in caplog.records if getattr(r, "action", None) == "unconfigured_job_type"]
    assert len(flagged) == 1 and "POLYGON_STATS" in flagged[0].getMessage()


@pytest.fixture
def ecs() -> Iterator[Any]:
    with ecs_world() as client:
        yield client


def ecs_manager(
    ecs: Any,
    client: ShoalClient,
    td: str,
    holder: str,
    sleeps: Sleeps,
    policy: ScalingPolicy = POLICY,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Manager:
    config = settings("ecs", policy, TEST=target(td))
    compute: ComputeBackend = backend(ecs, {"TEST": target(td)}, sleeps, holder=holder)
    return Manager(
        config, ManagerApi(client), compute, holder=holder, clock=sleeps.clock, wall=wall
    )


def test_ecs_restarted_manager_sees_the_tasks_already_starting(
    ecs: Any, manager_client: ShoalClient, client: FlaskClient, analyst: Headers
) -> None:
    td = register_task_definition(ecs)
    submit(client, analyst, 10)
    first = ecs_manager(ecs, manager_client, td, "first", Sleeps())
    assert first.tick().launched == {"TEST": 3}
    first.close()
    restarted = ecs_manager(ecs, manager_client, td, "restarted", Sleeps())
    outcome = restarted.tick()
    assert outcome.held and outcome.launched == {}
    assert len(outcome.workers) == 3 and all(
        w.status is WorkerStatus.RUNNING for w in outcome.workers
    )


def test_ecs_failed_launches_back_off_exponentially(
    ecs: Any,
    manager_client: ShoalClient,
    client: FlaskClient,
    analyst: Headers,
    admin_headers: Headers,
) -> None:
    submit(client, analyst, 5)
    sleeps = Sleeps()
    calls = CallCounter(ecs)
    failing = ecs_manager(ecs, manager_client, "no-such-task-definition:1", "m", sleeps)
    attempts_at: list[float] = []
    for second in range(0, 80):
        sleeps.now = float(second)
        before = calls.calls["RunTask"]
        failing.tick()
        if calls.calls["RunTask"] > before:
            attempts_at.append(sleeps.now)
    assert attempts_at == [0, 10, 30, 70]  # backoff 10, 20, 40 s: never a tight loop
    assert (
        failing.metrics.registry.get_sample_value(
            "shoal_manager_launch_failures_total", {"job_type": "TEST"}
        )
        == 4
    )
    status = client.get("/api/admin/status", headers=admin_headers).get_json()
    assert status["deployments"][0]["failedTasks"] == 4


def test_ecs_no_launch_within_the_cooldown_of_the_last(
    ecs: Any, manager_client: ShoalClient, client: FlaskClient, analyst: Headers
) -> None:
    td = register_task_definition(ecs)
    sleeps = Sleeps()
    manager = ecs_manager(
        ecs, manager_client, td, "m", sleeps, replace(POLICY, max=10, cooldown_seconds=30)
    )
    submit(client, analyst, 10)
    assert manager.tick().launched == {"TEST": 3}  # 2·ln(10/3 + 1) = 2.9 → 3
    submit(client, analyst, 90)  # 2·ln(100/3 + 1) = 7.07 → 7, less the 3 idle → 4 more
    for second in (1, 10, 29.5):
        sleeps.now = second
        assert manager.tick().launched == {}, f"launched {second} s after the last launch"
    sleeps.now = 30
    assert manager.tick().launched == {"TEST": 4}
    sleeps.now = 31
    assert manager.tick().launched == {}  # all 7 are there


def test_ecs_a_worker_up_a_minute_clears_the_launch_backoff(
    ecs: Any, manager_client: ShoalClient, client: FlaskClient, analyst: Headers
) -> None:
    submit(client, analyst, 5)  # 2·ln(5/3 + 1) = 1.96 → 2 workers wanted
    sleeps = Sleeps()
    calls = CallCounter(ecs)
    skew = timedelta(0)
    manager = ecs_manager(
        ecs, manager_client, "shoal-worker:1", "m", sleeps, wall=lambda: datetime.now(UTC) + skew
    )
    for second in (0, 10):  # no such task definition yet: fails, backing off 10 then 20 s
        sleeps.now = second
        manager.tick()
    assert calls.calls["RunTask"] == 2
    # The task definition appears and a worker of the type starts (a predecessor's launch).
    td = register_task_definition(ecs)
    earlier = run_task_kwargs(
        target(td), "TEST", 1, api_url=API_URL, holder="earlier", generation=0
    )
    [task] = ecs.run_task(**earlier)["tasks"]
    sleeps.now = 11
    assert manager.tick().launched == {}  # still backing off until 30: the worker is new
    skew = timedelta(seconds=HEALTHY_AFTER_SECONDS + 1)  # now it has run for a minute
    sleeps.now = 12
    outcome = manager.tick()
    assert outcome.launched == {"TEST": 1}  # at once, not at 30
    assert task["taskArn"] in {w.task_arn for w in outcome.workers}
