"""A process knows when a shoal process above it is gone: its parent, or one further up
(a worker whose manager lives on after ``shoal dev`` was killed). Real processes, Linux."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.lifetime import ANCESTORS_ENV, PARENT_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# top starts middle, middle starts leaf, each with child_env; the leaf says when it has
# looked once (not orphaned), then waits until orphaned() says it is.
CHAIN = """
import os, pathlib, subprocess, sys, time
from shared.lifetime import child_env, orphaned
role, out = sys.argv[1], pathlib.Path(sys.argv[2])
(out / role).write_text(str(os.getpid()))
if role != "leaf":
    env = {**os.environ, **child_env(os.environ)}
    subprocess.Popen([sys.executable, __file__, "middle" if role == "top" else "leaf", str(out)],
                     env=env)
    time.sleep(60)
else:
    assert not orphaned(os.environ)
    (out / "looked").touch()
    while not orphaned(os.environ):
        time.sleep(0.05)
    (out / "orphaned").touch()
"""


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("killed", ["middle", "top"])
def test_a_process_sees_a_shoal_ancestor_die(tmp_path: Path, killed: str) -> None:
    script = tmp_path / "chain.py"
    script.write_text(CHAIN)
    env = {k: v for k, v in os.environ.items() if k not in (PARENT_ENV, ANCESTORS_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    top = subprocess.Popen([sys.executable, str(script), "top", str(tmp_path)], env=env)
    try:
        _wait_for(tmp_path / "looked")
        assert not (tmp_path / "orphaned").exists()
        os.kill(int((tmp_path / killed).read_text()), signal.SIGKILL)
        _wait_for(tmp_path / "orphaned", timeout=10)
    finally:
        for role in ("leaf", "middle", "top"):
            if (tmp_path / role).exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int((tmp_path / role).read_text()), signal.SIGKILL)
        top.wait(10)
