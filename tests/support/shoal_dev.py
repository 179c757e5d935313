"""``shoal dev`` as a subprocess, for the tests that drive the whole platform, and what
they look at: its processes, its PostgreSQL, and the pids of its children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import psutil


def start_shoal_dev(
    data_dir: Path,
    port: int,
    admin: tuple[str, str],
    *,
    log: IO[bytes] | None = None,
    verbose: bool = True,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """Start ``shoal dev`` in its own session, with ``admin`` (email, password) and fast
    password hashing; its output goes to ``log`` (discarded when None), with every
    process's logs (``--verbose``) unless ``verbose`` is False."""
    env = {
        **os.environ,
        "SHOAL_ADMIN_EMAIL": admin[0],
        "SHOAL_ADMIN_PASSWORD": admin[1],
        "SHOAL_PASSWORD_HASH_FAST": "1",
        **settings,
    }
    command = [sys.executable, "-m", "shoal_cli", "dev"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(data_dir)]
        + (["--verbose"] if verbose else []),
        env=env,
        stdout=subprocess.DEVNULL if log is None else log,
        stderr=subprocess.DEVNULL if log is None else subprocess.STDOUT,
        start_new_session=True,
    )


def stop_shoal_dev(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a person would; its process group is killed if it is still there after
    a minute."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def child_pid(data_dir: Path, name: str) -> int:
    """The pid of ``shoal dev``'s child ``name`` (webapi, manager, guard), as it records it."""
    pid: int = json.loads((data_dir / "children.json").read_text())[name]
    return pid


def descendants(pid: int) -> list[psutil.Process]:
    try:
        found: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return found
    except psutil.NoSuchProcess:
        return []


def workers_of(pid: int) -> list[psutil.Process]:
    """The ``shoal worker`` processes below ``pid`` (shoal dev's, or its manager's)."""
    return [p for p in descendants(pid) if _runs_a_worker(p)]


def _runs_a_worker(process: psutil.Process) -> bool:
    try:
        return "--job-types" in process.cmdline()
    except psutil.NoSuchProcess:
        return False


def postgres_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those not exited yet (a zombie has exited; its reaping is not ours to wait for)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running
