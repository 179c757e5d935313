"""A worker that exits kills the process groups of the commands still running, and any
started after that, with real processes checked by pid."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.helpers import wait_for
from tests.worker.command_support import kill_survivors, program, read_pids, running
from worker import procgroup


@pytest.fixture
def pids_files(tmp_path: Path) -> Iterator[list[Path]]:
    paths = [tmp_path / "first", tmp_path / "late"]
    yield paths
    for path in paths:
        kill_survivors(path)


@contextmanager
def hanging(pids_file: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """hang.sh (it ignores SIGTERM, and so does its child), once it wrote its pids;
    afterwards, whatever is left of it is killed and reaped."""
    process = procgroup.start(
        ["sh", program("hang.sh")], env={**os.environ, "PIDS_FILE": str(pids_file)}, cwd=cwd
    )
    try:
        wait_for(pids_file.exists, 20, "the program to start")
        yield process
    finally:
        kill_survivors(pids_file)
        process.communicate()  # reaps it and closes its pipes


def test_kill_all_kills_every_live_group_and_any_started_after(
    tmp_path: Path, pids_files: list[Path]
) -> None:
    first_pids, late_pids = pids_files
    groups = procgroup.LiveGroups()
    with hanging(first_pids, tmp_path) as first:
        groups.add(first)
        assert all(running(pid) for pid in read_pids(first_pids))
        assert groups.kill_all() == 1
        assert [pid for pid in read_pids(first_pids) if running(pid)] == []
    with hanging(late_pids, tmp_path) as late:
        groups.add(late)  # a command that started while the worker was exiting
        assert [pid for pid in read_pids(late_pids) if running(pid)] == []
