"""Fault runs through ``shoal dev``: TEST jobs while one fault happens, nothing restarted
by hand; every job must end SUCCEEDED exactly once.

    .venv/bin/python bench/dev_faults.py --fault results|manager|webapi
                                         [--jobs 100] [--max-duration 2] [--down 20]

- ``results``: TEST's results directory is a file (an OS error even as root) for
  ``--down`` seconds, from the moment the first job started.
- ``manager``: the manager is SIGKILLed once a tenth of the jobs finished.
- ``webapi``: gunicorn's master is SIGKILLed once a tenth of the jobs finished.

It prints the end state read from the database (bench/invariants.py) and how long the
jobs took from the first submit.
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

from bench.invariants import read_end_state
from bench.support import machine, print_table
from shared.client import ShoalClient
from shared.client.health import wait_healthy
from tests.e2e.live import free_port
from tests.support.shoal_dev import child_pid, start_shoal_dev
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import make_engine

ADMIN = ("admin@example.org", "admin-password")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")


def _counts(client: ShoalClient) -> dict[str, int]:
    return {s: client.list_jobs(status=s, type="TEST", limit=1)["total"] for s in TERMINAL}


def run(fault: str, jobs: int, max_duration: float, down: float) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-dev-faults-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.with_suffix(".log")
    with log_path.open("wb") as log:
        dev = start_shoal_dev(data_dir, port, ADMIN, log=log)
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
            _fault(fault, client, data_dir, jobs, down)
            while sum(_counts(client).values()) < jobs:
                if time.monotonic() - started > 600:
                    raise SystemExit(f"the jobs did not end within 600 s; see {log_path}")
                time.sleep(1)
            took = time.monotonic() - started
        engine = make_engine(EmbeddedPostgres(data_dir / "postgres").uri("shoal"))
        state = read_end_state(engine, ids)
        engine.dispose()
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(120)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"shoal dev, fault {fault!r}, {jobs} TEST jobs of 0-{max_duration} s; {machine()}")
    rows = [[k, v] for k, v in {**state.by_status, **state.broken, **state.counts}.items()]
    print_table(["", "count"], [*rows, ["seconds from first submit", round(took, 1)]])
    for problem in state.problems:
        print(f"PROBLEM: {problem}")
    if not state.ok:
        print(f"shoal dev's output: {log_path}")
        return 1
    log_path.unlink()
    return 0


def _fault(fault: str, client: ShoalClient, data_dir: Path, jobs: int, down: float) -> None:
    if fault == "results":
        while not client.list_jobs(status="IN_PROGRESS", type="TEST", limit=1)["total"]:
            time.sleep(0.1)
        blocker, kept = data_dir / "results" / "test", data_dir / "results" / "test.kept"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        if blocker.exists():
            blocker.rename(kept)  # the files of jobs already finished, put back after
        blocker.write_text("not a directory")
        time.sleep(down)
        blocker.unlink()
        if kept.exists():
            kept.rename(blocker)
        return
    while _counts(client)["SUCCEEDED"] < jobs // 10:
        time.sleep(0.2)
    os.kill(child_pid(data_dir, "manager" if fault == "manager" else "webapi"), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=("results", "manager", "webapi"), required=True)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--max-duration", type=float, default=2.0)
    parser.add_argument("--down", type=float, default=20.0)
    args = parser.parse_args()
    sys.exit(run(args.fault, args.jobs, args.max_duration, args.down))


if __name__ == "__main__":
    main()
