"""Fault runs through ``shoal dev``: TEST jobs while one fault happens, nothing restarted
by hand; every job must end SUCCEEDED exactly once.

    .venv/bin/python bench/dev_faults.py --fault results|manager|webapi|pg-restart|pg-down|workers
                                         [--jobs 100] [--max-duration 2] [--down 20]

- ``results``: TEST's results directory is a file (an OS error even as root) for
  ``--down`` seconds, from the moment the first job started.
- ``manager``: the manager is SIGKILLed once a tenth of the jobs finished.
- ``webapi``: gunicorn's master is SIGKILLed once a tenth of the jobs finished.
- ``pg-restart``: PostgreSQL is stopped (``pg_ctl stop -m fast``: its sessions are
  terminated, as in a restart) once a tenth of the jobs finished; shoal dev's supervisor
  starts it again on the same data directory.
- ``pg-down``: the same, but shoal dev is paused (SIGSTOP, its children run on) so that
  PostgreSQL stays down for ``--down`` seconds (30 unless given); resumed (SIGCONT),
  its supervisor starts PostgreSQL again.
- ``workers``: from the moment the first job started, a random live worker (a child of
  the manager) gets SIGKILL about every 2 s, for ``--down`` seconds (60 unless given) or
  until every job ended; the manager must replace each one, and no job may end
  TIMED_OUT (a kill from outside is the platform's, not counted against its attempts).

Every job is followed through its event stream from its submission, reopened with
``Last-Event-ID`` when it ends early (bench/event_follow.py); the statuses the streams
showed are compared with the jobs' histories. It prints the end state read from the
database (bench/invariants.py) and how long the jobs took from the first submit.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import random
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from bench.event_follow import Follower, compare
from bench.invariants import read_end_state
from bench.support import machine, print_table
from shared.client import ShoalClient
from shared.client.errors import ApiUnavailable
from shared.client.health import wait_healthy
from tests.e2e.live import free_port
from tests.support.shoal_dev import child_pid, start_shoal_dev, workers_of
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import make_engine

ADMIN = ("admin@example.org", "admin-password")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")
FAULTS = ("results", "manager", "webapi", "pg-restart", "pg-down", "workers")
# One stream per job, all from one user.
SETTINGS = {"SHOAL_MAX_EVENT_STREAMS": "1000"}


def _counts(client: ShoalClient) -> dict[str, int]:
    """The jobs in each terminal state ({} while the API cannot answer)."""
    try:
        return {s: client.list_jobs(status=s, type="TEST", limit=1)["total"] for s in TERMINAL}
    except ApiUnavailable:
        return {}


def run(fault: str, jobs: int, max_duration: float, down: float) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-dev-faults-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.with_suffix(".log")
    with log_path.open("wb") as log:
        dev = start_shoal_dev(data_dir, port, ADMIN, log=log, **SETTINGS)
    try:
        if not wait_healthy(url, 180, still_starting=lambda: dev.poll() is None):
            raise SystemExit(f"shoal dev did not come up; see {log_path}")
        rng = random.Random(7)
        with ShoalClient(url, email=ADMIN[0], password=ADMIN[1]) as client:
            started = time.monotonic()
            ids = [
                client.submit_job(
                    "TEST", {"id": n, "durationSeconds": round(rng.uniform(0, max_duration), 2)}
                )["jobId"]
                for n in range(jobs)
            ]
            follower = Follower(lambda: ShoalClient(url, email=ADMIN[0], password=ADMIN[1]), ids)
            window = _fault(fault, client, dev.pid, data_dir, jobs, down)
            while sum(_counts(client).values()) < jobs:
                if time.monotonic() - started > 600:
                    raise SystemExit(f"the jobs did not end within 600 s; see {log_path}")
                time.sleep(1)
            took = time.monotonic() - started
            open_streams = follower.join(60)
            finished = [client.get_job(i) for i in ids]
            streams = compare(follower, finished)
            through = _through(finished, window)
        engine = make_engine(EmbeddedPostgres(data_dir / "postgres").uri("shoal"))
        state = read_end_state(engine, ids)
        engine.dispose()
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(120)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"shoal dev, fault {fault!r}, {jobs} TEST jobs of 0-{max_duration} s; {machine()}")
    rows = [[k, v] for k, v in {**state.by_status, **state.broken, **state.counts}.items()]
    rows += [
        ["status changes in the jobs' histories", streams.changes],
        ["of those, shown by an event stream", streams.seen],
        ["streams reopened with Last-Event-ID", streams.reopened],
        ["attempts running from before the fault to after it", through],
        ["seconds from first submit", round(took, 1)],
    ]
    print_table(["", "count"], rows)
    problems = [
        *state.problems,
        *streams.wrong,
        *(f"job {i}'s stream never showed its end" for i in open_streams),
    ]
    print(f"the fault: {window[0]} to {window[1]} (UTC)")
    for change in streams.missed:
        print(f"not shown: {change}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        print(f"shoal dev's output: {log_path}")
        return 1
    log_path.unlink()
    return 0


def _fault(
    fault: str, client: ShoalClient, dev_pid: int, data_dir: Path, jobs: int, down: float
) -> tuple[str, str]:
    """Wait for the fault's moment, cause it; when it began and ended (UTC)."""
    if fault in ("results", "workers"):
        while not client.list_jobs(status="IN_PROGRESS", type="TEST", limit=1)["total"]:
            time.sleep(0.1)
    else:
        while _counts(client).get("SUCCEEDED", 0) < jobs // 10:
            time.sleep(0.2)
    began = _now()
    if fault == "results":
        _block_results(data_dir, down)
    elif fault == "workers":
        killed = _kill_workers(client, data_dir, jobs, down)
        print(f"workers killed: {killed}")
    elif fault in ("manager", "webapi"):
        os.kill(child_pid(data_dir, fault), signal.SIGKILL)
    else:
        database = EmbeddedPostgres(data_dir / "postgres")
        if fault == "pg-down":
            os.kill(dev_pid, signal.SIGSTOP)  # its supervisor would start PostgreSQL at once
        try:
            database.stop("fast")
            time.sleep(down if fault == "pg-down" else 0)
        finally:
            os.kill(dev_pid, signal.SIGCONT)
        while not database.is_running():  # shoal dev starts it again
            time.sleep(0.1)
    return began, _now()


def _through(jobs: list[dict[str, Any]], window: tuple[str, str]) -> int:
    """The attempts that began before the fault and ended after it (times of one day)."""
    return sum(
        1
        for job in jobs
        for attempt in job["assignments"]
        if attempt["created_at"][11:23] < window[0]
        and (attempt["completed_at"] or "")[11:23] > window[1]
    )


def _kill_workers(client: ShoalClient, data_dir: Path, jobs: int, down: float) -> int:
    """SIGKILL a random live worker about every 2 s, for ``down`` seconds or until the
    jobs ended; how many were killed."""
    rng, killed, until = random.Random(11), 0, time.monotonic() + down
    while time.monotonic() < until and sum(_counts(client).values()) < jobs:
        workers = workers_of(child_pid(data_dir, "manager"))
        if workers:
            try:
                rng.choice(workers).send_signal(signal.SIGKILL)
                killed += 1
            except psutil.NoSuchProcess:
                pass
        time.sleep(rng.uniform(1.5, 2.5))
    return killed


def _block_results(data_dir: Path, down: float) -> None:
    blocker, kept = data_dir / "results" / "test", data_dir / "results" / "test.kept"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    if blocker.exists():
        blocker.rename(kept)  # the files of jobs already finished, put back after
    blocker.write_text("not a directory")
    time.sleep(down)
    blocker.unlink()
    if kept.exists():
        kept.rename(blocker)


def _now() -> str:
    return datetime.now(UTC).isoformat()[11:23]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=FAULTS, required=True)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--max-duration", type=float, default=2.0)
    parser.add_argument(
        "--down", type=float, help="seconds (20 for results, 30 for pg-down, 60 for workers)"
    )
    args = parser.parse_args()
    default_down = {"pg-down": 30.0, "workers": 60.0}.get(args.fault, 20.0)
    down = args.down if args.down is not None else default_down
    sys.exit(run(args.fault, args.jobs, args.max_duration, down))


if __name__ == "__main__":
    main()
