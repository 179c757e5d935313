"""Workers as processes on this machine (the ``shoal dev`` default).

The fleet is the set of child processes this manager started: a restarted local
manager adopts nothing, and workers left by a previous one exit by their idle
timeout (or with the manager: each asks the kernel for SIGTERM when its parent
dies). Exited children are reaped on every ``fleet()``. A child that exits on its
own with a non-zero code before it came up (the worker touches its
``SHOAL_READY_FILE`` once the API answered its first claim, and exits 2 or 3 for
start-up failures) is a failed launch; one that ran and then died — any signal
included — is a lost worker, replaced without backoff. Each child gets a work
directory of its own (under ``SHOAL_WORK_DIR`` when set), removed when the child is
reaped, however it ended.

Whether a lost worker's death was its job's doing: a non-zero exit, a crash signal
(SIGSEGV, SIGABRT, …) or an out-of-memory kill (the cgroup's ``memory.events``
counted one) is; any other signal (SIGKILL or SIGTERM from outside) is the
platform's, as is a worker found frozen (stopped by SIGSTOP) when it is killed
for not answering.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from manager.backends.base import (
    Fleet,
    LaunchFailure,
    LaunchResult,
    Worker,
    WorkerLost,
    WorkerStatus,
)
from manager.targets import LocalTarget
from shared.enums import WorkerExit
from shared.lifetime import child_env

log = logging.getLogger(__name__)


def default_command(job_type: str) -> list[str]:
    """``shoal worker --job-types T`` on the Python running the manager."""
    runner = "from shoal_cli.main import main; main()"
    return [sys.executable, "-c", runner, "worker", "--job-types", job_type]


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    job_type: str
    generation: int
    started_at: datetime
    ready: Path
    work_dir: Path
    stopping: bool = False
    killed: bool = False  # killed for not answering: its loss was already reported

    def worker(self, host: str) -> Worker:
        status = WorkerStatus.STOPPING if self.stopping else WorkerStatus.RUNNING
        return Worker(
            task_arn=f"local:{host}:{self.process.pid}",
            job_types=(self.job_type,),
            status=status,
            started_at=self.started_at,
            generation=self.generation,
        )


class LocalBackend:
    name = "local"

    def __init__(
        self,
        targets: Mapping[str, LocalTarget],
        *,
        api_url: str,
        api_key: str,
        stop_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        oom_events: Path | None = None,
    ) -> None:
        """``oom_events``: the cgroup ``memory.events`` that counts out-of-memory kills
        (default: this process's own cgroup's, when it has one)."""
        self.targets = dict(targets)
        self.api_url = api_url
        self.api_key = api_key
        self.stop_timeout = stop_timeout
        self.environ = dict(os.environ if environ is None else environ)
        self.wall = wall
        self.host = socket.gethostname()
        self.children: dict[int, _Child] = {}
        self._ready_dir = Path(tempfile.mkdtemp(prefix="shoal-ready-"))
        self._launches = 0
        self.oom = OomKills(oom_events)

    def _env(
        self, target: LocalTarget, job_type: str, ready: Path, work_dir: Path
    ) -> dict[str, str]:
        env = {**self.environ, "SHOAL_API_KEY": self.api_key, **target.environment}
        env.pop("SHOAL_WORKER_API_KEY", None)
        env.update(
            SHOAL_JOB_TYPES=job_type,
            SHOAL_API_URL=self.api_url,
            SHOAL_READY_FILE=str(ready),
            SHOAL_WORK_DIR=str(work_dir),
            **child_env(self.environ),  # it ends with this manager, or with shoal dev
        )
        return env

    def _work_dir(self, target: LocalTarget) -> Path:
        """A new directory for one child, under the configured ``SHOAL_WORK_DIR``."""
        parent = {**self.environ, **target.environment}.get("SHOAL_WORK_DIR")
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="shoal-worker-", dir=parent or None))

    def fleet(self) -> Fleet:
        failures: list[LaunchFailure] = []
        lost: list[WorkerLost] = []
        self.oom.observe()
        for pid, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self.children[pid]
            ran = child.ready.exists()
            child.ready.unlink(missing_ok=True)
            shutil.rmtree(child.work_dir, ignore_errors=True)  # even after a SIGKILL
            log.info(
                "local worker %s exited with %s",
                pid,
                code,
                extra={"action": "worker_exited", "job_type": child.job_type, "exit_code": code},
            )
            if code == 0 or child.killed:
                continue
            if _never_started(code, ran) and not child.stopping:
                failures.append(LaunchFailure(child.job_type, f"exited with code {code}", str(pid)))
            elif code < 0 or not child.stopping:  # asked to stop, it may still exit 1
                oom = code == -signal.SIGKILL and self.oom.explains_kill()
                reason, platform = judge_exit(code, oom)
                identity = child.worker(self.host).task_arn
                lost.append(WorkerLost(child.job_type, reason, identity, platform))
        workers = tuple(child.worker(self.host) for child in self.children.values())
        return Fleet(workers=workers, failures=tuple(failures), lost=tuple(lost))

    def launch(self, job_type: str, count: int, generation: int = 0) -> LaunchResult:
        target = self.targets.get(job_type, LocalTarget())
        command = list(target.command) if target.command else default_command(job_type)
        launched: list[Worker] = []
        for _ in range(count):
            self._launches += 1
            ready = self._ready_dir / f"worker-{self._launches}"
            work_dir = self._work_dir(target)
            try:
                process = subprocess.Popen(
                    command,
                    env=self._env(target, job_type, ready, work_dir),
                    stdin=subprocess.DEVNULL,
                    # Own session: a terminal's Ctrl-C reaches the manager, which
                    # then stops its workers in order.
                    start_new_session=True,
                )
            except OSError as error:
                shutil.rmtree(work_dir, ignore_errors=True)
                reason = f"cannot start {command[0]}: {error.strerror or error}"
                return LaunchResult(tuple(launched), (LaunchFailure(job_type, reason),))
            child = _Child(process, job_type, generation, self.wall(), ready, work_dir)
            self.children[process.pid] = child
            launched.append(child.worker(self.host))
        return LaunchResult(launched=tuple(launched))

    def stop(self, workers: Sequence[Worker], reason: str) -> None:
        for pid in {_pid_of(w) for w in workers}:
            child = self.children.get(pid)
            if child is None or child.stopping:
                continue
            child.stopping = True
            log.info(
                "stopping local worker %s: %s",
                pid,
                reason,
                extra={"action": "worker_stop", "job_type": child.job_type},
            )
            _signal(child.process, signal.SIGTERM)

    def kill(self, workers: Sequence[Worker], reason: str) -> list[WorkerLost]:
        """SIGKILL each; one found frozen (stopped by a signal) was the platform's loss."""
        lost: list[WorkerLost] = []
        for worker in workers:
            child = self.children.get(_pid_of(worker))
            if child is None or child.killed:
                continue
            frozen = process_state(child.process.pid) in FROZEN_STATES
            child.killed = child.stopping = True
            log.warning(
                "killing local worker %s: %s",
                child.process.pid,
                reason,
                extra={"action": "worker_kill", "job_type": child.job_type, "frozen": frozen},
            )
            _signal(child.process, signal.SIGKILL)
            why = f"{reason}; it was frozen (stopped by a signal)" if frozen else reason
            lost.append(WorkerLost(child.job_type, why, worker.task_arn, platform=frozen))
        return lost

    def shutdown(self) -> None:
        """SIGTERM every child, wait up to ``stop_timeout``, then SIGKILL what is left."""
        self.stop([c.worker(self.host) for c in self.children.values()], "manager shutdown")
        deadline = time.monotonic() + self.stop_timeout
        for child in list(self.children.values()):
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "local worker %s did not stop in time; killing it",
                    child.process.pid,
                    extra={"action": "worker_kill", "job_type": child.job_type},
                )
                child.process.kill()
                child.process.wait()
            shutil.rmtree(child.work_dir, ignore_errors=True)
        self.children.clear()
        shutil.rmtree(self._ready_dir, ignore_errors=True)


# Signals a process raises against itself when it crashes: its job's doing.
_CRASHES = frozenset(
    {
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGILL,
        signal.SIGFPE,
        signal.SIGABRT,
        signal.SIGSYS,
        signal.SIGTRAP,
        signal.SIGXCPU,
        signal.SIGXFSZ,
    }
)
# /proc/<pid>/stat states of a process stopped by a signal (SIGSTOP, SIGTSTP) or a tracer.
FROZEN_STATES = ("T", "t")


def judge_exit(code: int, out_of_memory: bool) -> tuple[str, bool]:
    """Why a worker that ran ended with ``code`` (negative: killed by that signal),
    and whether the platform did it (not its job)."""
    if code >= 0:
        return f"exited with code {code}", False
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if -code in _CRASHES:
        return f"crashed ({name})", False
    if -code == signal.SIGKILL and out_of_memory:
        return "killed by SIGKILL: out of memory", False
    return f"killed by {name}", True


def process_state(pid: int) -> str | None:
    """The state letter of a live process (``R``, ``S``, ``T`` …), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name may hold spaces and parentheses
    return fields[0] if fields else None


class OomKills:
    """Out-of-memory kills in a cgroup, from its ``memory.events`` (cgroup v2), to
    match against the SIGKILLs that ended workers."""

    WINDOW_SECONDS = 30.0  # a kill not matched to a worker's death within this is forgotten

    def __init__(
        self, events: Path | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.events = events if events is not None else _own_memory_events()
        self.clock = clock
        self.seen = self._read()
        self.unmatched: list[float] = []  # when each kill not yet matched was first seen

    def observe(self) -> None:
        """Note the kills counted since the last look."""
        count, now = self._read(), self.clock()
        if count is not None and self.seen is not None and count > self.seen:
            self.unmatched += [now] * (count - self.seen)
        self.seen = count if count is not None else self.seen
        self.unmatched = [t for t in self.unmatched if now - t < self.WINDOW_SECONDS]

    def explains_kill(self) -> bool:
        """Whether a recent out-of-memory kill explains one SIGKILL seen now."""
        self.observe()
        if not self.unmatched:
            return False
        self.unmatched.pop(0)
        return True

    def _read(self) -> int | None:
        if self.events is None:
            return None
        try:
            lines = self.events.read_text().splitlines()
        except OSError:
            return None
        counts = dict(line.split(maxsplit=1) for line in lines if " " in line)
        found = counts.get("oom_kill", "").strip()
        return int(found) if found.isdigit() else None


def _own_memory_events() -> Path | None:
    """This process's cgroup v2 ``memory.events`` (its workers are in the same cgroup)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    unified = next((line[3:] for line in lines if line.startswith("0::")), None)
    return (
        None if unified is None else Path("/sys/fs/cgroup") / unified.lstrip("/") / "memory.events"
    )


def _pid_of(worker: Worker) -> int:
    return int(worker.task_arn.rsplit(":", 1)[1])


def _never_started(code: int, ran: bool) -> bool:
    """A non-zero exit of its own before it came up; a signal is never the worker's doing."""
    if code < 0:
        return False
    if code in (WorkerExit.BAD_SETTINGS, WorkerExit.START_FAILED):
        return True
    return not ran


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    # The child may exit between the poll and the signal.
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
