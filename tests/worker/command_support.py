"""What the command runner's tests share: the test programs, a run spec given by the
test, and whether a process (by pid) is gone."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.client import Claim
from worker.runspec import RunSpec

PROGRAMS = Path(__file__).parent / "programs"


def program(name: str) -> str:
    return str(PROGRAMS / name)


@dataclass(frozen=True)
class FixedSpec:
    """Every job runs under this spec: the API has no job-type routes to read one from."""

    spec: RunSpec

    def spec_for(self, claim: Claim) -> RunSpec:
        return self.spec


def read_pids(path: Path) -> list[int]:
    """The pids a test program wrote (it writes the file whole, by a rename)."""
    return [int(pid) for pid in path.read_text().split()]


def running(pid: int) -> bool:
    """Whether ``pid`` has not exited (a zombie has: its reaping is its parent's)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_survivors(pids_file: Path) -> None:
    """After a test: kill what a program left running when the test failed."""
    if pids_file.exists():
        for pid in read_pids(pids_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
