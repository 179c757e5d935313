"""A command in a process group of its own, and stopping that group whole.

The command starts in a new session (``start_new_session``), so it leads a process
group that its children and grandchildren join, and a terminal's Ctrl-C meant for the
worker never reaches it. Stopping sends SIGTERM to the whole group, then SIGKILL to
whatever is left after the grace period. A process counts as gone once it has exited
(a zombie has: its reaping is its parent's business). The leader is reaped by its
``Popen``; the group's orphans are reaped here when they were handed to the worker
(a container's PID 1), and by init otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

PROC = Path("/proc")
EXITED = ("Z", "X")  # zombie, dead
# How often a stopping group is looked at.
POLL_SECONDS = 0.02
# How long SIGKILLed processes get to be reaped before the worker gives up on them.
KILL_WAIT_SECONDS = 5.0

Note = Callable[[str, str], None]  # (level, message) into the job's log


def start(command: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` (never through a shell) leading a new process group, its stdout
    and stderr on pipes, its stdin empty. Raises OSError when it cannot start."""
    return subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )


def group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the group ``process`` leads has not exited yet."""
    process.poll()
    if process.returncode is not None:
        _reap_orphans(process.pid)  # never before: it could take the leader's status
    if PROC.is_dir():
        return bool(members(process.pid))
    try:  # no /proc: a zombie still counts, until its parent reaps it
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a member that changed its user: still there
    return True


def members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that have not exited (Linux: read from /proc)."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # pid (comm) state ppid pgrp ...: comm may hold anything, so split after its ")".
        state, _, group = stat.rpartition(")")[2].split()[:3]
        if int(group) == pgid and state not in EXITED:
            found.append(int(entry.name))
    return found


def stop_group(process: subprocess.Popen[bytes], grace: float, note: Note) -> bool:
    """SIGTERM to the group, SIGKILL after ``grace`` seconds to what is left; True once
    every process of the group is gone (False: some would not be reaped in time)."""
    if not group_alive(process):
        return True
    _signal_group(process.pid, signal.SIGTERM)
    if _wait_gone(process, grace):
        return True
    note("WARNING", f"still running {grace:g} s after SIGTERM: SIGKILL to its process group")
    _signal_group(process.pid, signal.SIGKILL)
    return _wait_gone(process, KILL_WAIT_SECONDS)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the group at once (the worker is exiting)."""
    if group_alive(process):
        _signal_group(process.pid, signal.SIGKILL)


def _wait_gone(process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while group_alive(process):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # Gone meanwhile, or a member we may not signal: the wait tells.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap_orphans(pgid: int) -> None:
    """Reap the group's processes that were handed to this process (PID 1 in a
    container, or a subreaper); elsewhere there are none and init reaps them."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class LiveGroups:
    """The process groups of the commands running now, so that a worker that exits
    with a job thread still busy kills them rather than leaving them behind."""

    def __init__(self) -> None:
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def add(self, process: subprocess.Popen[bytes]) -> None:
        """Track a group; one started after :meth:`kill_all` is killed at once."""
        with self._lock:
            if not self._closed:
                self._live[process.pid] = process
                return
        kill_group(process)
        _wait_gone(process, KILL_WAIT_SECONDS)

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.pop(process.pid, None)

    def kill_all(self) -> int:
        """SIGKILL every live group, and any added from now on; return once they are
        gone (or after ``KILL_WAIT_SECONDS``), with how many there were."""
        with self._lock:
            self._closed = True
            live = list(self._live.values())
        for process in live:
            kill_group(process)
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        for process in live:
            _wait_gone(process, max(0.0, deadline - time.monotonic()))
        return len(live)
