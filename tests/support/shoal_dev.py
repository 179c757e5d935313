"""``shoal dev`` as a subprocess, for the tests that drive the whole platform."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO


def start_shoal_dev(
    data_dir: Path,
    port: int,
    admin: tuple[str, str],
    *,
    log: IO[bytes] | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """Start ``shoal dev`` in its own session, with ``admin`` (email, password) and fast
    password hashing; its output goes to ``log`` (discarded when None)."""
    env = {
        **os.environ,
        "SHOAL_ADMIN_EMAIL": admin[0],
        "SHOAL_ADMIN_PASSWORD": admin[1],
        "SHOAL_PASSWORD_HASH_FAST": "1",
        **settings,
    }
    command = [sys.executable, "-m", "shoal_cli", "dev"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL if log is None else log,
        stderr=subprocess.DEVNULL if log is None else subprocess.STDOUT,
        start_new_session=True,
    )
