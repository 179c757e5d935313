"""Which process of a multi-process server serves a given client connection (Linux /proc),
and a kept-alive connection to talk to that one process.

The server's worker processes share one listening socket, so the kernel picks the
process that accepts each connection; a test that must reach every process opens
connections until each has one, and asks here who got which.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROC = Path("/proc")


class Connection:
    """One kept-alive HTTP connection, so every request reaches the same process."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.port = int(parts.port or 80)
        self.http = http.client.HTTPConnection(parts.hostname or "", self.port, timeout=10)
        self.http.connect()

    def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        sent = {**headers, "Content-Type": "application/json"} if payload else headers
        self.http.request(method, path, body=payload, headers=sent)
        response = self.http.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else None

    def client_port(self) -> int:
        port: int = self.http.sock.getsockname()[1]
        return port


def children(parent: int) -> set[int]:
    """The live child processes of ``parent``."""
    found = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.add(int(entry.name))
    return found


def serving_process(server_port: int, client_port: int, candidates: set[int]) -> int | None:
    """The process among ``candidates`` holding the server end of the connection
    from ``client_port`` to ``server_port`` on 127.0.0.1; None when not (yet) found."""
    inode = _server_socket_inode(server_port, client_port)
    if inode is None:
        return None
    link = f"socket:[{inode}]"
    for pid in candidates:
        fds = PROC / str(pid) / "fd"
        try:
            if any(os.readlink(fds / fd) == link for fd in os.listdir(fds)):
                return pid
        except OSError:
            continue
    return None


def _server_socket_inode(server_port: int, client_port: int) -> str | None:
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if _port(local) == server_port and _port(remote) == client_port:
            return inode
    return None


def _port(address: str) -> int:
    return int(address.rpartition(":")[2], 16)
