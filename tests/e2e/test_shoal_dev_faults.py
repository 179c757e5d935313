"""``shoal dev`` under faults: a child killed is restarted and no job is lost or run
twice to the end; a child that keeps dying ends ``shoal dev`` naming it; a killed
``shoal dev`` leaves no process behind, even with jobs running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from shared.client import ShoalClient
from shared.client.health import wait_healthy
from tests.e2e.helpers import wait_for
from tests.e2e.live import free_port
from tests.support.shoal_dev import (
    child_pid,
    descendants,
    postgres_of,
    start_shoal_dev,
    still_running,
    workers_of,
)

pytestmark = pytest.mark.slow

ADMIN = ("admin@example.org", "admin-password")
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    log_path: Path

    def client(self) -> ShoalClient:
        return ShoalClient(self.url, email=ADMIN[0], password=ADMIN[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self, timeout: float = 120) -> None:
        started = wait_healthy(self.url, timeout, still_starting=lambda: self.proc.poll() is None)
        assert started, f"shoal dev is not healthy:\n{self.log()}"


@contextmanager
def shoal_dev(tmp_path: Path, *, healthy: bool = True, **settings: str) -> Iterator[Dev]:
    """``shoal dev`` on a free port, its output in a file; stopped with Ctrl-C at the end.

    Its data lives outside pytest's base directory: PostgreSQL runs as another user when
    the tests run as root, and every pytest session on the machine makes that directory
    private again, which would lock PostgreSQL out of a restart.
    """
    port, log_path = free_port(), tmp_path / "shoal-dev.log"
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-dev-faults-"))
    with log_path.open("wb") as log:
        proc = start_shoal_dev(data_dir, port, ADMIN, log=log, **settings)
    dev = Dev(proc, data_dir, f"http://127.0.0.1:{port}", log_path)
    try:
        if healthy:
            dev.healthy()
        yield dev
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)


def _submit(client: ShoalClient, ids: range, seconds: float) -> list[int]:
    return [client.submit_job("TEST", {"id": i, "durationSeconds": seconds})["jobId"] for i in ids]


def _running(client: ShoalClient, job_ids: list[int]) -> list[int]:
    return [i for i in job_ids if client.get_job(i)["status"] == "IN_PROGRESS"]


def _all_ended(client: ShoalClient, job_ids: list[int]) -> list[dict[str, Any]] | None:
    jobs = [client.get_job(i) for i in job_ids]
    return jobs if all(job["status"] in ENDED for job in jobs) else None


def _succeeded_once(jobs: list[dict[str, Any]]) -> None:
    """Every job SUCCEEDED with exactly one result; an earlier attempt was handed back."""
    for job in jobs:
        assert job["status"] == "SUCCEEDED", job
        results = [a for a in job["assignments"] if a["result"] is not None]
        assert len(results) == 1, job
        assert {a["outcome"] for a in job["assignments"][:-1]} <= {"RELEASED"}, job


def _alive(pid: int) -> bool:
    return bool(still_running([psutil.Process(pid)])) if psutil.pid_exists(pid) else False


def _restarted(dev: Dev, name: str, old: int) -> int | None:
    pid = child_pid(dev.data_dir, name)
    return pid if pid != old and _alive(pid) else None


def test_a_killed_manager_is_restarted_and_every_job_succeeds_once(tmp_path: Path) -> None:
    with shoal_dev(tmp_path) as dev, dev.client() as client:
        before = _submit(client, range(4), 2)
        wait_for(lambda: _running(client, before), 90, "a job to run")
        old = child_pid(dev.data_dir, "manager")
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: _restarted(dev, "manager", old), 30, "a new manager")
        after = _submit(client, range(10, 14), 2)
        jobs = wait_for(lambda: _all_ended(client, before + after), 240, "every job to end")
        log = dev.log()
    _succeeded_once(jobs)
    assert "shoal dev: manager was killed by SIGKILL; restarting it in 0.5 s" in log


def test_a_killed_web_api_comes_back_on_its_port_and_takes_the_running_jobs_results(
    tmp_path: Path,
) -> None:
    with shoal_dev(tmp_path) as dev, dev.client() as client:
        job_ids = _submit(client, range(2), 3)
        running = wait_for(lambda: _running(client, job_ids), 90, "a job to run")
        old = child_pid(dev.data_dir, "webapi")
        os.kill(old, signal.SIGKILL)  # gunicorn's master; shoal dev kills its workers
        wait_for(lambda: _restarted(dev, "webapi", old), 30, "a new web API")
        dev.healthy(60)  # on the same port
        jobs = wait_for(lambda: _all_ended(client, job_ids), 120, "every job to end")
        log = dev.log()
    _succeeded_once(jobs)
    # The job that ran through the restart kept its first attempt: its result was taken.
    [first] = [job for job in jobs if job["id"] == running[0]]
    assert [(a["attempt"], a["outcome"]) for a in first["assignments"]] == [(1, "SUCCEEDED")]
    assert "shoal dev: webapi was killed by SIGKILL; restarting it in 0.5 s" in log


def _log_text(client: ShoalClient, job_id: int) -> str:
    return "\n".join(line["message"] for line in client.job_logs(job_id)["lines"])


def test_jobs_finishing_while_the_results_directory_is_unusable_succeed_once(
    tmp_path: Path,
) -> None:
    """TEST's results directory is a file (an OS error even as root) until two jobs have
    each failed to store their results three times; then it is put back."""
    with shoal_dev(tmp_path) as dev, dev.client() as client:
        blocker = dev.data_dir / "results" / "test"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("not a directory")
        job_ids = _submit(client, range(6), 0)

        def stuck() -> bool:
            return sum("(try 3)" in _log_text(client, i) for i in job_ids) >= 2

        wait_for(stuck, 120, "two jobs to fail three uploads")
        blocker.unlink()
        jobs = wait_for(lambda: _all_ended(client, job_ids), 120, "every job to end")
    _succeeded_once(jobs)
    assert [len(job["assignments"]) for job in jobs] == [1] * 6  # no attempt was spent


def test_a_killed_postgres_is_restarted(tmp_path: Path) -> None:
    with shoal_dev(tmp_path) as dev, dev.client() as client:
        pid_file = dev.data_dir / "postgres" / "pgdata" / "postmaster.pid"
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        wait_for(lambda: "shoal dev: PostgreSQL restarted" in dev.log(), 90, "a restart")
        job_ids = _submit(client, range(1), 0)
        jobs = wait_for(lambda: _all_ended(client, job_ids), 120, "the job to end")
    _succeeded_once(jobs)


def test_a_postgres_that_cannot_start_again_ends_shoal_dev_naming_it(tmp_path: Path) -> None:
    with shoal_dev(tmp_path) as dev:
        pgdata = dev.data_dir / "postgres" / "pgdata"
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        pgdata.chmod(0)  # PostgreSQL's own user may no longer enter its data directory
        try:
            os.kill(postmaster, signal.SIGKILL)
            code = dev.proc.wait(180)
        finally:
            pgdata.chmod(0o700)
        log = dev.log()
    assert code == 1, log
    assert "PostgreSQL died 5 times within 60 s (last: did not start: " in log, log


def test_a_child_that_keeps_dying_ends_shoal_dev_naming_it(tmp_path: Path) -> None:
    # A manager that cannot start: its settings are refused, every time (exit 2).
    with shoal_dev(tmp_path, healthy=False, SHOAL_MANAGER_TICK_SECONDS="often") as dev:
        code = dev.proc.wait(180)
        log = dev.log()
    assert code == 1, log
    assert "manager died 5 times within 60 s (last: exited with code 2); giving up" in log
    assert not postgres_of(dev.data_dir)


def test_a_sigkilled_dev_with_running_jobs_leaves_nothing_behind(tmp_path: Path) -> None:
    """One job finishes just after the kill (its worker would retry its result), one runs
    on (its worker would wait out its grace period): neither outlives shoal dev."""
    two_workers = {"min": 2, "max": 2, "cooldownSeconds": 2, "sensitivity": 2.0, "factor": 3.0}
    config = {"jobTypes": {"TEST": {"policy": two_workers, "local": {}}}}
    with (
        shoal_dev(tmp_path, SHOAL_MANAGER_CONFIG_JSON=json.dumps(config)) as dev,
        dev.client() as client,
    ):
        job_ids = [*_submit(client, range(1), 2), *_submit(client, range(1, 2), 120)]
        wait_for(lambda: len(_running(client, job_ids)) == 2, 90, "both jobs to run")
        workers = workers_of(dev.proc.pid)
        left = [*descendants(dev.proc.pid), *postgres_of(dev.data_dir)]
        assert len(workers) == 2
        killed = time.monotonic()
        dev.proc.kill()  # SIGKILL to shoal dev alone, not to its process group
        dev.proc.wait(5)
        workers_gone = wait_for(
            lambda: not still_running(workers) and time.monotonic(), 60, "the workers to exit"
        )
        everything_gone = wait_for(
            lambda: not still_running(left) and time.monotonic(), 60, "every process to exit"
        )
    print(
        f"after shoal dev was killed: workers gone in {workers_gone - killed:.1f} s, "
        f"everything in {everything_gone - killed:.1f} s"
    )
    assert workers_gone - killed < 8, "the workers outlived shoal dev"
    assert not postgres_of(dev.data_dir)
