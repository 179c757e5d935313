"""The child processes of ``shoal dev``: started in their own process groups, recorded
on disk so a later run can stop what a killed run left behind, and stopped in order."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from shared.lifetime import PARENT_ENV

SHOAL = [sys.executable, "-m", "shoal_cli"]


def run_shoal(args: list[str], env: dict[str, str]) -> str:
    """Run one ``shoal`` command to completion; its one-line error becomes ours."""
    result = subprocess.run(
        [*SHOAL, *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise click.ClickException(
            f"shoal {args[0]} failed: {lines[-1] if lines else result.returncode}"
        )
    return result.stdout


class Children:
    def __init__(self, record: Path) -> None:
        self.record = record
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self._spawn(name, [*SHOAL, *args], env)

    def start_guard(self, data_dir: Path, env: dict[str, str]) -> None:
        """The process that stops the stack if this one is killed (webapi.devguard)."""
        pids = [str(p.pid) for p in self.procs.values()]
        command = [sys.executable, "-m", "webapi.devguard", str(data_dir), *pids]
        self._spawn("guard", command, env)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # Each child asks for SIGTERM when this process dies (shared.lifetime).
        env = {**env, PARENT_ENV: str(os.getpid())}
        self.procs[name] = subprocess.Popen(command, env=env, start_new_session=True)
        self.record.write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise click.ClickException(f"{name} exited with code {proc.returncode}")

    def supervise(self, stop: list[bool]) -> int:
        """Wait until asked to stop (0) or until a child dies (1)."""
        while not stop[0]:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    click.echo(f"{name} exited with code {proc.returncode}", err=True)
                    return 1
            time.sleep(0.1)
        return 0

    def stop_all(self, grace: float = 30) -> None:
        """The manager first (it stops its workers, which hand their jobs back through the
        API), then the web API at once (SIGINT: gunicorn's quick stop, nothing left to
        serve but a developer's own requests); the groups last."""
        for name, signum in (("manager", signal.SIGTERM), ("webapi", signal.SIGINT)):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                _signal_group(proc.pid, signum)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # anything still in the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.record.unlink(missing_ok=True)

    def stop_leftovers(self) -> None:
        """Stop the process groups a killed ``shoal dev`` left running."""
        try:
            pids = json.loads(self.record.read_text()).values()
        except (OSError, ValueError):
            return
        for pid in pids:
            _signal_group(int(pid), signal.SIGTERM)
        time.sleep(1)
        for pid in pids:
            _signal_group(int(pid), signal.SIGKILL)
        self.record.unlink(missing_ok=True)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
