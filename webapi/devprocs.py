"""The child processes of ``shoal dev``: started in their own process groups, recorded
on disk so a later run can stop what a killed run left behind, restarted when they die,
and stopped in order.

A child that dies — the web API's gunicorn master, the manager, the guard, or
PostgreSQL — is started again after a pause that doubles with each death (0.5 s, 1 s,
2 s, 4 s); what it left in its process group (gunicorn's workers, which hold the
port) is killed first. The fifth death of one child within a minute ends ``shoal
dev`` with exit code 1 and a message naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click

from shared.lifetime import child_env

SHOAL = [sys.executable, "-m", "shoal_cli"]
RESTART_WINDOW_SECONDS = 60.0
MAX_DEATHS = 5  # within the window: then shoal dev gives up
FIRST_PAUSE = 0.5
MAX_PAUSE = 8.0
DATABASE = "PostgreSQL"


def run_shoal(args: list[str], env: dict[str, str]) -> str:
    """Run one ``shoal`` command to completion; its one-line error becomes ours."""
    result = subprocess.run([*SHOAL, *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise click.ClickException(
            f"shoal {args[0]} failed: {lines[-1] if lines else result.returncode}"
        )
    return result.stdout


class GaveUp(click.ClickException):
    """A child kept dying: ``shoal dev`` stops, naming it."""


@dataclass
class _Deaths:
    """One child's deaths within the window, and when it is due to start again."""

    times: deque[float] = field(default_factory=deque)
    restart_at: float | None = None

    def count(self, now: float) -> int:
        self.times.append(now)
        while self.times[0] < now - RESTART_WINDOW_SECONDS:
            self.times.popleft()
        return len(self.times)


class Children:
    def __init__(self, record: Path, output: IO[bytes] | None = None) -> None:
        """``output``: where the children write (None: this process's own terminal)."""
        self.record = record
        self.output = output
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._deaths: dict[str, _Deaths] = {}
        self._database: tuple[Callable[[], bool], Callable[[], object]] | None = None

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self._spawn(name, [*SHOAL, *args], env)

    def start_guard(self, data_dir: Path, env: dict[str, str]) -> None:
        """The process that stops the stack if this one is killed (webapi.devguard)."""
        command = [sys.executable, "-m", "webapi.devguard", str(data_dir), str(self.record)]
        self._spawn("guard", command, env)

    def watch_database(self, running: Callable[[], bool], start: Callable[[], object]) -> None:
        """Restart PostgreSQL with ``start`` whenever ``running`` says it is not."""
        self._database = (running, start)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self._commands[name] = (command, env)
        # Each child asks for SIGTERM when this process dies (shared.lifetime).
        env = {**env, **child_env(os.environ)}
        self.procs[name] = subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
            stdout=self.output,
            stderr=None if self.output is None else subprocess.STDOUT,
        )
        # Written whole, then renamed: the guard may read it at any moment.
        partial = self.record.with_name(f".{self.record.name}.partial")
        partial.write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))
        partial.replace(self.record)

    def tend(self) -> None:
        """Restart every child that died once its pause is over; GaveUp names one that
        died too often."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            deaths = self._deaths.setdefault(name, _Deaths())
            if deaths.restart_at is None and proc.poll() is not None:
                # What it left: gunicorn's workers exit within a second of their master,
                # but not one whose loop is blocked, and that one holds the port.
                signal_group(proc.pid, signal.SIGKILL)
                self._died(name, _how_it_ended(proc.returncode), now)
            elif deaths.restart_at is not None and now >= deaths.restart_at:
                deaths.restart_at = None
                self._spawn(name, *self._commands[name])
                click.echo(f"shoal dev: {name} restarted (pid {self.procs[name].pid})", err=True)
        self._tend_database(now)

    def _tend_database(self, now: float) -> None:
        if self._database is None:
            return
        running, start = self._database
        deaths = self._deaths.setdefault(DATABASE, _Deaths())
        if deaths.restart_at is None:
            if not running():
                self._died(DATABASE, "stopped", now)
            return
        if now < deaths.restart_at:
            return
        deaths.restart_at = None
        try:
            start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            first_line = str(error).strip().splitlines()[:1] or [type(error).__name__]
            self._died(DATABASE, f"did not start: {first_line[0]}", time.monotonic())
            return
        click.echo(f"shoal dev: {DATABASE} restarted", err=True)

    def _died(self, name: str, how: str, now: float) -> None:
        deaths = self._deaths[name]
        count = deaths.count(now)
        if count >= MAX_DEATHS:
            raise GaveUp(
                f"{name} died {count} times within {RESTART_WINDOW_SECONDS:.0f} s "
                f"(last: {how}); giving up"
            )
        pause = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (count - 1))
        deaths.restart_at = now + pause
        click.echo(f"shoal dev: {name} {how}; restarting it in {pause:.1f} s", err=True)

    def supervise(self, stop: list[bool]) -> int:
        """Tend the children until asked to stop (0) or until one keeps dying (1)."""
        while not stop[0]:
            try:
                self.tend()
            except GaveUp as error:
                click.echo(f"shoal dev: {error.message}", err=True)
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
                signal_group(proc.pid, signum)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace)
        for proc in self.procs.values():
            signal_group(proc.pid, signal.SIGKILL)  # anything still in the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.record.unlink(missing_ok=True)

    def stop_leftovers(self) -> None:
        """Stop the process groups a killed ``shoal dev`` left running."""
        pids = list(recorded(self.record).values())
        for pid in pids:
            signal_group(pid, signal.SIGTERM)
        if pids:
            time.sleep(1)
        for pid in pids:
            signal_group(pid, signal.SIGKILL)
        self.record.unlink(missing_ok=True)


def recorded(record: Path) -> dict[str, int]:
    """``{name: pid}`` of the children as ``shoal dev`` last wrote them ({} if unreadable)."""
    try:
        return {str(name): int(pid) for name, pid in json.loads(record.read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def signal_group(pid: int | None, signum: int) -> None:
    """Signal the process group of ``pid`` (a child of ``shoal dev`` leads its own), if any."""
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)
