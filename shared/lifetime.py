"""Children that end with the shoal processes that started them, asked for by the child.

A process started by ``shoal dev`` or the local manager finds its parent's pid in
``SHOAL_PARENT_PID`` and asks Linux (``prctl(PR_SET_PDEATHSIG)``) for SIGTERM when
that parent dies, however it dies: a SIGKILLed ``shoal dev`` leaves nothing behind.
``SHOAL_ANCESTOR_PIDS`` names every shoal process above it (``shoal dev``, then the
manager, for a worker): :func:`orphaned` tells a process that one of them is gone
even while its own parent lives on, so a worker stops at once when ``shoal dev`` is
killed rather than when its manager gets round to it. Elsewhere (macOS, Windows)
this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

PARENT_ENV = "SHOAL_PARENT_PID"
ANCESTORS_ENV = "SHOAL_ANCESTOR_PIDS"
PR_SET_PDEATHSIG = 1


def die_with_parent(env: Mapping[str, str], signum: int = signal.SIGTERM) -> bool:
    """Get ``signum`` when the parent named in ``SHOAL_PARENT_PID`` dies; True if asked."""
    raw = env.get(PARENT_ENV, "")
    if not raw.isdigit() or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        return False
    if os.getppid() != int(raw):
        os.kill(os.getpid(), signum)  # the parent was gone before we asked
    return True


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The lifetime variables for a child of this process: this process as its parent,
    and this process's own shoal ancestors followed by itself."""
    pid = str(os.getpid())
    return {PARENT_ENV: pid, ANCESTORS_ENV: ",".join([*_named_ancestors(env), pid])}


def orphaned(env: Mapping[str, str]) -> bool:
    """Whether a shoal process named in ``SHOAL_ANCESTOR_PIDS`` (or ``SHOAL_PARENT_PID``)
    is no longer above this one: it died, and this process was handed to another parent.

    Linux only (it reads ``/proc``); False elsewhere, and for a process with no such names.
    """
    named = set(_named_ancestors(env))
    if env.get(PARENT_ENV, "").isdigit():
        named.add(env[PARENT_ENV])
    if not named or not Path("/proc/self/stat").exists():
        return False
    return not named <= {str(pid) for pid in _ancestors()}


def _named_ancestors(env: Mapping[str, str]) -> list[str]:
    return [pid for pid in env.get(ANCESTORS_ENV, "").split(",") if pid.isdigit()]


def _ancestors() -> list[int]:
    """This process's parent, its parent's parent ... up to init (from ``/proc``)."""
    found: list[int] = []
    pid = os.getppid()
    while pid > 1 and pid not in found:
        found.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state
    return found
