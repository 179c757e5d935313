"""Children that end with their parent, asked for by the child itself.

A process started by ``shoal dev`` or the local manager finds its parent's pid in
``SHOAL_PARENT_PID`` and asks Linux (``prctl(PR_SET_PDEATHSIG)``) for SIGTERM when
that parent dies, however it dies: a SIGKILLed ``shoal dev`` leaves nothing behind.
Elsewhere (macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping

PARENT_ENV = "SHOAL_PARENT_PID"
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
