"""A worker that ran and then died is replaced at once; only a failed start backs off.

Local workers are real processes (their ready file says they came up); ECS tasks are
moto's, stopped the ways real ones stop; the loop runs against the real web API.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from manager.api import ManagerApi
from manager.backends.base import (
    Fleet,
    LaunchFailure,
    LaunchResult,
    Worker,
    WorkerLost,
    WorkerStatus,
)
from manager.backends.ecs_tasks import loss, start_failure
from manager.backends.local import LocalBackend, process_state
from manager.loop import Manager
from manager.policy import ScalingPolicy
from manager.settings import ManagerSettings
from manager.targets import JobTypeConfig, LocalTarget
from shared.client import ShoalClient
from tests.manager.conftest import API_URL
from tests.manager.test_loop import analyst, manager_client, submit  # noqa: F401 - fixtures


def _exits(code: int, *, ready: bool) -> LocalTarget:
    touch = "pathlib.Path(os.environ['SHOAL_READY_FILE']).touch(); " if ready else ""
    script = f"import os, pathlib, sys; {touch}sys.exit({code})"
    return LocalTarget(command=(sys.executable, "-c", script))


def _reap(backend: LocalBackend) -> Fleet:
    failures: list[LaunchFailure] = []
    lost: list[WorkerLost] = []
    deadline = time.monotonic() + 15
    while backend.children:
        assert time.monotonic() < deadline, "the children did not exit"
        fleet = backend.fleet()
        failures += fleet.failures
        lost += fleet.lost
        time.sleep(0.05)
    return Fleet(failures=tuple(failures), lost=tuple(lost))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "failed"),
    [
        (_exits(1, ready=False), True),  # crashed before it reached the API
        (_exits(3, ready=False), True),  # refused at its first claim
        (_exits(2, ready=True), True),  # bad settings are a failed start whenever seen
        (_exits(1, ready=True), False),  # ran, then crashed: lost
        (_exits(4, ready=True), False),  # ran, then a handler got stuck: lost
    ],
)
def test_local_exit_is_a_failed_start_only_before_the_worker_came_up(
    target: LocalTarget, failed: bool
) -> None:
    backend = LocalBackend({"TEST": target}, api_url="http://127.0.0.1:9", api_key="k")
    try:
        backend.launch("TEST", 1)
        fleet = _reap(backend)
    finally:
        backend.shutdown()
    assert (len(fleet.failures), len(fleet.lost)) == ((1, 0) if failed else (0, 1))


SLEEPER = LocalTarget(command=(sys.executable, "-c", "import time; time.sleep(60)"))


@pytest.mark.slow
def test_a_local_worker_killed_by_a_signal_is_lost_not_failed() -> None:
    backend = LocalBackend({"TEST": SLEEPER}, api_url="http://127.0.0.1:9", api_key="k")
    try:
        [worker] = backend.launch("TEST", 1).launched
        os.kill(int(worker.task_arn.rsplit(":", 1)[1]), signal.SIGKILL)
        fleet = _reap(backend)
    finally:
        backend.shutdown()
    assert fleet.failures == ()
    [gone] = fleet.lost
    # A kill from outside is the platform's: the attempt it held is not counted.
    assert (gone.reason, gone.platform, gone.task_arn) == (
        "killed by SIGKILL",
        True,
        worker.task_arn,
    )


def _crashes(signum: int) -> LocalTarget:
    ready = "pathlib.Path(os.environ['SHOAL_READY_FILE']).touch()"
    script = f"import os, pathlib; {ready}; os.kill(os.getpid(), {signum})"
    return LocalTarget(command=(sys.executable, "-c", script))


@pytest.mark.slow
def test_a_local_worker_that_crashes_itself_is_the_jobs_loss() -> None:
    backend = LocalBackend(
        {"TEST": _crashes(signal.SIGSEGV)}, api_url="http://127.0.0.1:9", api_key="k"
    )
    try:
        backend.launch("TEST", 1)
        [gone] = _reap(backend).lost
    finally:
        backend.shutdown()
    assert (gone.reason, gone.platform) == ("crashed (SIGSEGV)", False)


@pytest.mark.slow
def test_a_sigkill_while_the_cgroup_counted_an_oom_kill_is_the_jobs_loss(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    backend = LocalBackend(
        {"TEST": SLEEPER}, api_url="http://127.0.0.1:9", api_key="k", oom_events=events
    )
    try:
        [worker] = backend.launch("TEST", 1).launched
        events.write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")  # the kernel's kill
        os.kill(int(worker.task_arn.rsplit(":", 1)[1]), signal.SIGKILL)
        [gone] = _reap(backend).lost
    finally:
        backend.shutdown()
    assert (gone.reason, gone.platform) == ("killed by SIGKILL: out of memory", False)


@pytest.mark.slow
@pytest.mark.parametrize("frozen", [True, False])
def test_killing_a_worker_that_stopped_answering_says_whether_it_was_frozen(frozen: bool) -> None:
    backend = LocalBackend({"TEST": SLEEPER}, api_url="http://127.0.0.1:9", api_key="k")
    try:
        [worker] = backend.launch("TEST", 1).launched
        pid = int(worker.task_arn.rsplit(":", 1)[1])
        if frozen:
            os.kill(pid, signal.SIGSTOP)
            deadline = time.monotonic() + 10
            while process_state(pid) != "T":
                assert time.monotonic() < deadline, "the child never stopped"
                time.sleep(0.01)
        [gone] = backend.kill([worker], "no contact with the API for 45 s")
        assert _reap(backend).lost == ()  # its loss was told once, by kill
    finally:
        backend.shutdown()
    assert gone.task_arn == worker.task_arn and gone.platform is frozen
    suffix = "; it was frozen (stopped by a signal)" if frozen else ""
    assert gone.reason == "no contact with the API for 45 s" + suffix


def _task(**fields: Any) -> dict[str, Any]:
    return {"lastStatus": "STOPPED", "containers": [{"name": "worker"}], **fields}


def _container(code: int) -> list[dict[str, Any]]:
    return [{"name": "worker", "exitCode": code}]


STARTED = {"startedAt": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("task", "reason", "platform"),
    [
        (
            _task(stopCode="SpotInterruption", stoppedReason="Your Spot Task was interrupted."),
            "Spot interruption: Your Spot Task was interrupted.",
            True,
        ),
        (
            _task(
                stopCode="EssentialContainerExited",
                stoppedReason="Host EC2 (instance i-0abc) terminated.",
                containers=_container(137),
                **STARTED,
            ),
            "host or agent failure: Host EC2 (instance i-0abc) terminated.",
            True,
        ),
        (
            _task(
                stopCode="UserInitiated",
                stoppedReason="Task stopped by user",
                containers=_container(137),
                **STARTED,
            ),
            "stopped by StopTask: Task stopped by user",
            True,
        ),
        (
            _task(
                stopCode="EssentialContainerExited",
                stoppedReason="Essential container in task exited",
                containers=[
                    {
                        "name": "worker",
                        "exitCode": 137,
                        "reason": "OutOfMemoryError: Container killed due to memory usage",
                    }
                ],
                **STARTED,
            ),
            "out of memory (OutOfMemoryError: Container killed due to memory usage)",
            False,
        ),
        (_task(containers=_container(1), **STARTED), "container worker exited with code 1", False),
    ],
)
def test_ecs_losses_say_whether_the_platform_or_the_job_did_it(
    task: dict[str, Any], reason: str, platform: bool
) -> None:
    assert loss(task) == (reason, platform)


def test_ecs_tasks_stopped_on_purpose_and_exiting_cleanly_are_not_lost() -> None:
    task = _task(stopCode="UserInitiated", containers=_container(0), **STARTED)
    assert loss(task) is None


@pytest.mark.parametrize(
    ("task", "failure", "lost"),
    [
        (
            _task(stopCode="TaskFailedToStart", stoppedReason="CannotPullContainerError"),
            True,
            False,
        ),
        (_task(stoppedReason="ResourceInitializationError: no secret"), True, False),
        (_task(containers=_container(1)), True, False),  # never RUNNING, exited 1
        (_task(containers=_container(3), **STARTED), True, False),  # the worker was refused
        (_task(containers=_container(137), **STARTED), False, True),  # OOM kill after running
        (
            _task(
                stopCode="SpotInterruption",
                stoppedReason="Your Spot Task was interrupted.",
                containers=_container(143),
                **STARTED,
            ),
            False,
            True,
        ),
        (_task(containers=_container(0), **STARTED), False, False),  # idle exit
    ],
)
def test_ecs_stopped_tasks_are_judged_by_whether_they_ran(
    task: dict[str, Any], failure: bool, lost: bool
) -> None:
    assert (
        start_failure(task) is not None,
        start_failure(task) is None and loss(task) is not None,
    ) == (
        failure,
        lost,
    )


class ScriptedBackend:
    """A backend whose fleet reads are scripted: workers die after running, on demand."""

    name = "scripted"

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self.lost: list[WorkerLost] = []
        self.launches: list[int] = []

    def fleet(self) -> Fleet:
        lost, self.lost = tuple(self.lost), []
        return Fleet(workers=tuple(self.workers), lost=lost)

    def launch(self, job_type: str, count: int, generation: int = 0) -> LaunchResult:
        self.launches.append(count)
        new = [
            Worker(
                f"w{len(self.launches)}-{n}", (job_type,), WorkerStatus.RUNNING, datetime.now(UTC)
            )
            for n in range(count)
        ]
        self.workers += new
        return LaunchResult(launched=tuple(new))

    def kill_all(self) -> None:
        self.lost += [WorkerLost("TEST", "exited with code -9", w.task_arn) for w in self.workers]
        self.workers = []

    def stop(self, workers: Any, reason: str) -> None:
        """Nothing to stop."""

    def kill(self, workers: Any, reason: str) -> list[WorkerLost]:
        return []

    def shutdown(self) -> None:
        """Nothing to release."""


def test_lost_workers_are_replaced_at_the_next_tick_with_no_backoff(
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: dict[str, str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    submit(client, analyst, 6)
    # A long cooldown: only a replacement may launch inside it.
    policy = ScalingPolicy(min=0, max=2, cooldown_seconds=3600, sensitivity=2.0, factor=3.0)
    config = ManagerSettings(
        api_url=API_URL,
        api_key="k",
        backend="scripted",
        job_types={"TEST": JobTypeConfig("TEST", policy)},
        tick_seconds=1,
    )
    scripted = ScriptedBackend()
    manager = Manager(config, ManagerApi(manager_client), scripted, holder="lost-test")  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    manager.tick()
    assert scripted.launches == [2]
    for _ in range(7):  # more deaths than any backoff would allow
        scripted.kill_all()
        outcome = manager.tick()
        assert outcome.launched == {"TEST": 2}
    assert scripted.launches == [2] * 8
    manager.tick()  # nothing died: the cooldown holds again
    assert scripted.launches == [2] * 8
    actions = [getattr(r, "action", "") for r in caplog.records]
    assert actions.count("worker_lost") == 14
    assert "launch_failed" not in actions
    assert manager.types["TEST"].failures == 0
    manager.close()
