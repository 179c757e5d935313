"""The tick when the fleet cannot be read, and workers the API stopped hearing from.

Against the real web API (in-process WSGI, fresh database); the backend is scripted
(reads that fail on demand, kills recorded), the manager's clock injected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from manager.api import Contact, ManagerApi
from manager.backends.base import (
    Fleet,
    FleetUnavailable,
    LaunchResult,
    Worker,
    WorkerLost,
    WorkerStatus,
)
from manager.loop import Manager
from manager.lost import RECONNECT_SECONDS, SilenceWatch
from manager.policy import ScalingPolicy
from manager.targets import LocalTarget
from shared.client import ShoalClient
from tests.manager.ecs_support import Sleeps
from tests.manager.test_loop import (  # noqa: F401 - fixtures
    admin_headers,
    analyst,
    manager_client,
    settings,
    submit,
)
from tests.webapi.conftest import IssuedKey
from webapi.services import Services

Headers = dict[str, str]
LEASE = 10.0
SILENT = 10.0
ARN = "arn:aws:ecs:us-east-1:0:task/shoal/{}"


class FlakyBackend:
    """ECS as the tick sees it: reads that fail on demand, launches that start tasks."""

    name = "scripted"

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self.reads_fail = False
        self.launched: list[int] = []
        self.killed: list[str] = []
        self.lost: list[WorkerLost] = []

    def fleet(self) -> Fleet:
        if self.reads_fail:
            raise FleetUnavailable("ConnectionClosedError: ListTasks: Connection was closed")
        lost, self.lost = tuple(self.lost), []
        return Fleet(workers=tuple(self.workers), lost=lost)

    def dies(self, worker: Worker, reason: str, *, platform: bool) -> None:
        self.workers.remove(worker)
        self.lost.append(WorkerLost("TEST", reason, worker.task_arn, platform))

    def launch(self, job_type: str, count: int, generation: int = 0) -> LaunchResult:
        self.launched.append(count)
        new = [
            Worker(
                ARN.format(f"{len(self.launched)}-{n}"),
                (job_type,),
                WorkerStatus.STARTING,
                datetime.now(UTC),
            )
            for n in range(count)
        ]
        self.workers += new
        return LaunchResult(launched=tuple(new))

    def running(self, name: str, started: datetime) -> Worker:
        worker = Worker(ARN.format(name), ("TEST",), WorkerStatus.RUNNING, started)
        self.workers.append(worker)
        return worker

    def stop(self, workers: Any, reason: str) -> None:
        """Nothing to stop."""

    def kill(self, workers: list[Worker], reason: str) -> list[WorkerLost]:
        self.killed += [w.task_arn for w in workers]
        gone = {w.task_arn for w in workers}
        self.workers = [w for w in self.workers if w.task_arn not in gone]
        return [WorkerLost("TEST", reason, w.task_arn) for w in workers]

    def shutdown(self) -> None:
        """Nothing to release."""


def _manager(
    api: ShoalClient, compute: FlakyBackend, clock: Sleeps, policy: ScalingPolicy
) -> Manager:
    scripted = settings("scripted", policy, TEST=LocalTarget())
    config = dataclasses.replace(scripted, lease_seconds=LEASE, silent_seconds=SILENT)
    return Manager(config, ManagerApi(api), compute, holder="faults", clock=clock.clock)  # type: ignore[arg-type]


POLICY = ScalingPolicy(min=0, max=4, cooldown_seconds=0, sensitivity=2.0, factor=3.0)


def _fleet(client: FlaskClient, admin_headers: Headers) -> dict[str, Any]:  # noqa: F811
    answer: dict[str, Any] = client.get("/api/admin/workers", headers=admin_headers).get_json()
    return answer


def test_a_tick_that_cannot_read_the_fleet_launches_on_the_last_view_and_says_it_is_stale(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
    admin_headers: Headers,  # noqa: F811
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    manager = _manager(manager_client, compute, clock, POLICY)
    submit(client, analyst, 6)
    assert manager.tick().launched == {"TEST": 2}  # 2·ln(6/3 + 1) → 2
    read_at = _fleet(client, admin_headers)["readAt"]
    compute.reads_fail = True
    outcome = manager.tick()
    assert (outcome.stale, outcome.launched) == (True, {})  # the two still count
    submit(client, analyst, 30)  # 36 pending: the curve asks for 4
    assert manager.tick().launched == {"TEST": 2}
    assert manager.tick().launched == {}  # those launched while stale count too
    fleet = _fleet(client, admin_headers)
    assert (fleet["stale"], fleet["readAt"], len(fleet["workers"])) == (True, read_at, 4)
    assert "ListTasks: Connection was closed" in fleet["error"]
    compute.reads_fail = False
    outcome = manager.tick()
    assert (outcome.stale, outcome.launched) == (False, {})
    assert _fleet(client, admin_headers)["stale"] is False
    manager.close()


def test_a_manager_that_never_read_the_fleet_launches_nothing(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
    admin_headers: Headers,  # noqa: F811
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    compute.reads_fail = True
    manager = _manager(manager_client, compute, clock, POLICY)
    submit(client, analyst, 6)
    outcome = manager.tick()
    assert (outcome.held, outcome.stale, compute.launched) == (True, True, [])
    fleet = _fleet(client, admin_headers)
    assert (fleet["stale"], fleet["readAt"], fleet["workers"]) == (True, None, [])
    manager.close()


def test_ticks_failing_for_twice_the_lease_give_the_lease_up(
    manager_client: ShoalClient,  # noqa: F811
    api_key: Callable[..., IssuedKey],
    api_client: Callable[[str], ShoalClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    manager = _manager(manager_client, compute, clock, POLICY)
    assert manager.tick().held
    compute.reads_fail = True
    other = ManagerApi(api_client(api_key(("MANAGER",)).key))
    caplog.set_level(logging.INFO)

    def given_up() -> bool:
        return any(getattr(r, "action", "") == "lease_given_up" for r in caplog.records)

    while not given_up():
        assert clock.now <= 3 * LEASE, "the lease was never given up"
        assert manager.tick().held
        clock.now += 1
    assert clock.now > 2 * LEASE
    assert other.acquire("other", 30).held  # the lease is free for another manager…
    other.release("other")
    assert not manager.tick().held  # …and this one stands aside for one lease
    clock.now += LEASE
    assert manager.tick().held
    manager.close()


def _silent_for(services: Services, identity: str, seconds: float) -> None:
    """The API last heard from ``identity`` ``seconds`` ago (claims and attempts)."""
    with services.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workers (identity, claimed_at, contact_until) "
                "VALUES (:i, now() - make_interval(secs => :s), now() - make_interval(secs => :s))"
                " ON CONFLICT (identity) DO UPDATE SET claimed_at = EXCLUDED.claimed_at,"
                " contact_until = EXCLUDED.contact_until"
            ),
            {"i": identity, "s": seconds},
        )
        conn.execute(
            text(
                "UPDATE job_assignments SET created_at = now() - make_interval(secs => :s) "
                "WHERE ecs_task_arn = :i"
            ),
            {"i": identity, "s": seconds},
        )


def test_a_worker_the_api_stopped_hearing_from_is_killed_declared_lost_and_replaced(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
    api_key: Callable[..., IssuedKey],
    api_client: Callable[[str], ShoalClient],
    services: Services,
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    # A long cooldown: only a replacement may launch inside it.
    policy = ScalingPolicy(min=0, max=3, cooldown_seconds=3600, sensitivity=2.0, factor=1.0)
    manager = _manager(manager_client, compute, clock, policy)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    frozen, healthy = compute.running("frozen", long_ago), compute.running("healthy", long_ago)
    submit(client, analyst, 3)
    worker = api_client(api_key(("WORKER",)).key)
    [held] = worker.claim_many(["TEST"], task_arn=frozen.task_arn, cluster_arn="c")
    assert len(worker.claim_many(["TEST"], task_arn=healthy.task_arn, cluster_arn="c")) == 1
    _silent_for(services, frozen.task_arn, 100)
    # Both busy, one pending: one launch, and the cooldown starts.
    assert manager.tick().launched == {"TEST": 1}
    clock.now += 2 * SILENT
    manager.tick()  # silent for long, but the API has not answered for 30 s yet
    assert compute.killed == []
    clock.now = RECONNECT_SECONDS
    outcome = manager.tick()
    assert compute.killed == [frozen.task_arn]
    assert outcome.launched == {"TEST": 1}  # its replacement, inside the cooldown
    job = client.get(f"/api/jobs/{held.job_id}", headers=analyst).get_json()["job"]
    assert job["status"] == "PENDING"
    [attempt] = job["assignments"]
    assert attempt["outcome"] == "LOST" and attempt["counted"] is True
    assert attempt["lost_reason"].startswith("no contact with the API for 10")  # 100 s
    clock.now += 1
    assert manager.tick().launched == {}  # replaced once
    assert compute.killed == [frozen.task_arn]
    manager.close()


def test_a_worker_declared_lost_before_is_stopped_again_but_not_replaced(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    policy = ScalingPolicy(min=0, max=2, cooldown_seconds=3600, sensitivity=2.0, factor=1.0)
    manager = _manager(manager_client, compute, clock, policy)
    survivor = compute.running("survivor", datetime.now(UTC))
    submit(client, analyst, 2)
    assert manager.tick().launched == {"TEST": 1}  # beside the idle survivor; cooldown starts
    lost = WorkerLost("TEST", "stopped by a predecessor", survivor.task_arn)
    manager.api.declare_lost("faults", [lost])
    outcome = manager.tick()
    assert compute.killed == [survivor.task_arn]
    assert outcome.launched == {}  # inside the cooldown: no replacement of it
    manager.close()


@pytest.mark.parametrize("platform", [True, False])
def test_a_worker_that_died_is_declared_lost_and_its_job_is_pending_at_once(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: Headers,  # noqa: F811
    api_key: Callable[..., IssuedKey],
    api_client: Callable[[str], ShoalClient],
    platform: bool,
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    manager = _manager(manager_client, compute, clock, POLICY)
    spot = compute.running("spot", datetime.now(UTC))
    submit(client, analyst, 1)
    worker = api_client(api_key(("WORKER",)).key)
    [held] = worker.claim_many(["TEST"], task_arn=spot.task_arn, cluster_arn="c")
    assert manager.tick().launched == {}
    compute.dies(spot, "Spot interruption: reclaimed", platform=platform)
    assert manager.tick().launched == {"TEST": 1}
    job = client.get(f"/api/jobs/{held.job_id}", headers=analyst).get_json()["job"]
    [attempt] = job["assignments"]
    assert (job["status"], attempt["outcome"], attempt["counted"]) == (
        "PENDING",
        "LOST",
        not platform,
    )
    assert manager.lost.undeclared == []
    manager.close()


def test_a_declaration_the_api_refuses_is_kept_and_sent_again(
    manager_client: ShoalClient,  # noqa: F811
) -> None:
    compute, clock = FlakyBackend(), Sleeps()
    manager = _manager(manager_client, compute, clock, POLICY)
    assert manager.tick().held
    manager.lost.lost(WorkerLost("TEST", "killed by SIGKILL", "local:h:1", platform=True))
    manager.lost.declare("not-the-holder")  # 403: kept
    assert len(manager.lost.undeclared) == 1
    manager.lost.declare("faults")
    assert manager.lost.undeclared == []
    assert manager.api.contacts(["local:h:1"])["local:h:1"].lost
    manager.close()


def test_silence_counts_only_while_the_api_answers() -> None:
    clock = Sleeps()
    watch = SilenceWatch(60, clock.clock)
    worker = Worker("w", ("TEST",), WorkerStatus.RUNNING, datetime.now(UTC))
    contacts = {"w": Contact(silent_seconds=100, lost=False)}
    watch.api_answered()
    clock.now = 40  # silent 100 s by the API's clock, but the API answered only 40 s
    assert watch.silent([worker], contacts, datetime.now(UTC)) == []
    clock.now = 61
    assert watch.silent([worker], contacts, datetime.now(UTC)) == [(worker, 100)]
    watch.api_failed()
    watch.api_answered()
    assert watch.silent([worker], contacts, datetime.now(UTC)) == []
