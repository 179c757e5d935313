"""The local backend with real processes: launch, reap, fail, stop, shut down cleanly."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from manager.backends.base import LaunchFailure, WorkerStatus
from manager.backends.local import LocalBackend, default_command
from manager.targets import LocalTarget

pytestmark = pytest.mark.slow
MakeBackend = Callable[..., LocalBackend]

# A worker stand-in that exits 0 on SIGTERM, as the real worker does.
SLEEPER = (
    sys.executable,
    "-c",
    "import signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(30)",
)
# One that ignores SIGTERM, and says so by creating the file named in $READY.
STUBBORN = (
    sys.executable,
    "-c",
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(os.environ['READY'], 'w').close(); time.sleep(30)",
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def make_backend() -> Iterator[MakeBackend]:
    made: list[LocalBackend] = []

    def build(targets: dict[str, LocalTarget], **kwargs: object) -> LocalBackend:
        backend = LocalBackend(targets, api_url="http://127.0.0.1:9", api_key="k", **kwargs)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.shutdown()


def pids(backend: LocalBackend) -> list[int]:
    return [int(w.task_arn.rsplit(":", 1)[1]) for w in backend.fleet().workers]


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_launch_then_shutdown_leaves_no_process(make_backend: MakeBackend) -> None:
    backend = make_backend({"TEST": LocalTarget(command=SLEEPER)})
    result = backend.launch("TEST", 3, generation=2)
    assert len(result.launched) == 3 and result.failures == ()
    fleet = backend.fleet()
    assert len(fleet.workers) == 3
    assert {w.status for w in fleet.workers} == {WorkerStatus.RUNNING}
    assert {w.generation for w in fleet.workers} == {2}
    assert all(w.task_arn.startswith("local:") for w in fleet.workers)
    started = pids(backend)
    backend.shutdown()
    assert not any(alive(pid) for pid in started)
    assert backend.fleet().workers == ()


def test_workers_get_their_job_types_and_the_api(
    make_backend: MakeBackend, tmp_path: object
) -> None:
    out = f"{tmp_path}/env.txt"
    script = (
        "import os; open(os.environ['OUT'], 'w').write("
        "' '.join(os.environ[k] for k in ('SHOAL_JOB_TYPES', 'SHOAL_API_URL', 'SHOAL_API_KEY')))"
    )
    backend = make_backend(
        {"TEST": LocalTarget(command=(sys.executable, "-c", script), environment={"OUT": out})}
    )
    backend.launch("TEST", 1)
    wait_for(lambda: not backend.fleet().workers)
    with open(out) as written:
        assert written.read() == "TEST http://127.0.0.1:9 k"


def test_exited_workers_are_reaped_and_crashes_are_failures(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend(
        {
            "TEST": LocalTarget(command=(sys.executable, "-c", "pass")),
            "POLYGON_STATS": LocalTarget(command=(sys.executable, "-c", "raise SystemExit(3)")),
        }
    )
    backend.launch("TEST", 2)
    backend.launch("POLYGON_STATS", 1)
    failures: list[LaunchFailure] = []
    deadline = time.monotonic() + 10
    while backend.children and time.monotonic() < deadline:
        failures += backend.fleet().failures
        time.sleep(0.05)
    assert backend.children == {}
    [failure] = failures
    assert failure.job_type == "POLYGON_STATS" and "code 3" in failure.reason


def test_a_missing_command_is_a_launch_failure(make_backend: MakeBackend) -> None:
    backend = make_backend({"TEST": LocalTarget(command=("/nonexistent/worker",))})
    result = backend.launch("TEST", 2)
    assert result.launched == ()
    assert "cannot start /nonexistent/worker" in result.failures[0].reason


def test_stop_sends_sigterm_and_marks_stopping(make_backend: MakeBackend) -> None:
    backend = make_backend({"TEST": LocalTarget(command=SLEEPER)})
    [first, second] = backend.launch("TEST", 2).launched
    backend.stop([first], "scaled down")
    assert {w.task_arn: w.status for w in backend.fleet().workers}[
        first.task_arn
    ] is WorkerStatus.STOPPING
    wait_for(lambda: [w.task_arn for w in backend.fleet().workers] == [second.task_arn])
    assert backend.fleet().failures == ()  # asked to stop: not a failure


def test_shutdown_kills_a_worker_that_ignores_sigterm(
    make_backend: MakeBackend, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    stubborn = LocalTarget(command=STUBBORN, environment={"READY": str(ready)})
    backend = make_backend({"TEST": stubborn}, stop_timeout=0.5)
    backend.launch("TEST", 1)
    [pid] = pids(backend)
    wait_for(ready.exists)  # its SIGTERM handler is in place
    started = time.monotonic()
    backend.shutdown()
    assert time.monotonic() - started < 5
    assert not alive(pid)


def test_default_command_runs_shoal_worker_on_this_python() -> None:
    command = default_command("TEST")
    assert command[0] == sys.executable
    assert command[-3:] == ["worker", "--job-types", "TEST"]


def test_each_worker_has_a_work_dir_of_its_own_removed_when_it_is_reaped(
    make_backend: MakeBackend, tmp_path: Path
) -> None:
    """Even a SIGKILLed worker, which cannot clean up, leaves nothing behind."""
    parent = tmp_path / "work"
    writer = (
        sys.executable,
        "-c",
        "import os, pathlib, time; "
        "(pathlib.Path(os.environ['SHOAL_WORK_DIR']) / 'output').write_text('x'); time.sleep(30)",
    )
    target = LocalTarget(command=writer, environment={"SHOAL_WORK_DIR": str(parent)})
    backend = make_backend({"TEST": target})
    backend.launch("TEST", 2)
    wait_for(lambda: len(list(parent.glob("*/output"))) == 2)
    [killed, kept] = pids(backend)
    dirs = {pid: Path(backend.children[pid].work_dir) for pid in (killed, kept)}
    assert dirs[killed] != dirs[kept] and {d.parent for d in dirs.values()} == {parent}
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: killed not in pids(backend))
    assert not dirs[killed].exists() and (dirs[kept] / "output").exists()
    backend.shutdown()
    assert list(parent.iterdir()) == []
