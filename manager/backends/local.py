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
    ) -> None:
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
            if code == 0 or child.stopping:
                continue
            reason = f"exited with code {code}"
            if _never_started(code, ran):
                failures.append(LaunchFailure(child.job_type, reason, str(pid)))
            else:
                lost.append(WorkerLost(child.job_type, reason, str(pid)))
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
        pids = {int(w.task_arn.rsplit(":", 1)[1]) for w in workers}
        for pid in pids:
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
