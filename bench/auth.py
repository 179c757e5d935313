"""Authentication from the per-process principal cache: its cost and how fast a change spreads.

    .venv/bin/python bench/auth.py [--trials 30] [--seconds 10] [--clients 4]

1. Throughput: ``--clients`` threads call ``GET /api/auth/profile`` (a route that does
   nothing but authenticate) with an API key for ``--seconds``, on ``shoal webapi`` with
   its default settings, then again with ``SHOAL_AUTH_CACHE_SECONDS=0`` (a query per
   request, as before the cache). Requests/s and p50/p99 latency.
2. Propagation: per trial a fresh key is used over kept-alive connections to every API
   process (each has it cached), revoked through another connection, and the time
   from the revocation's answer until every process refuses it is recorded. The same
   for a user demoted from ANALYST to DEFAULT (``GET /api/jobs`` turns 403).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import tempfile
import threading
import time
from typing import Any

import httpx

from bench.harness import ADMIN_EMAIL, Platform, environment_ready, running_platform
from bench.measure import load_average, percentile
from tests.support.processes import Connection, children, serving_process

PASSWORD = "a long enough password"


def throughput(platform: Platform, key: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        with httpx.Client(base_url=platform.url, headers={"X-API-Key": key}) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                assert http.get("/api/auth/profile").status_code == 200
                latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for part in latencies for value in part]
    return {
        "rps": len(every) / seconds,
        "p50_ms": percentile(every, 0.5) * 1e3,
        "p99_ms": percentile(every, 0.99) * 1e3,
    }


def _admin(platform: Platform) -> tuple[Connection, dict[str, str]]:
    admin = Connection(platform.url)
    login = {"email": ADMIN_EMAIL, "password": platform.admin_password}
    _, token = admin.call("POST", "/api/auth/login", {}, login)
    return admin, {"Authorization": f"Bearer {token['token']}"}


def _connections(platform: Platform, warm: dict[str, str]) -> list[Connection]:
    """A connection to each API process, each having used ``warm`` once."""
    assert platform.api.process is not None
    workers = children(platform.api.process.pid)
    held: dict[int, Connection] = {}
    while len(held) < len(workers):
        connection = Connection(platform.url)
        assert connection.call("GET", "/api/jobs", warm)[0] == 200
        pid = serving_process(connection.port, connection.client_port(), workers)
        if pid is None or pid in held:
            connection.http.close()
        else:
            held[pid] = connection
    return list(held.values())


def _until_refused(connections: list[Connection], headers: dict[str, str], code: int) -> float:
    started = time.perf_counter()
    waiting = list(connections)
    while waiting:
        waiting = [c for c in waiting if c.call("GET", "/api/jobs", headers)[0] != code]
    return time.perf_counter() - started


def propagation(platform: Platform, trials: int) -> dict[str, list[float]]:
    admin, as_admin = _admin(platform)
    found: dict[str, list[float]] = {"key": [], "user": []}
    for trial in range(trials):
        email = f"bench-auth-{trial}@example.org"
        body = {"email": email, "password": PASSWORD, "roles": ["ANALYST"]}
        user = admin.call("POST", "/api/users", as_admin, body)[1]["user"]
        _, login = admin.call("POST", "/api/auth/login", {}, {"email": email, "password": PASSWORD})
        as_user = {"Authorization": f"Bearer {login['token']}"}
        key_body = {"name": f"k{trial}", "roles": ["ANALYST"]}
        key = admin.call("POST", "/api/auth/api-keys", as_admin, key_body)[1]
        as_key = {"X-API-Key": key["key"]}
        connections = _connections(platform, as_key)
        for connection in connections:
            assert connection.call("GET", "/api/jobs", as_user)[0] == 200
        assert admin.call("DELETE", f"/api/auth/api-keys/{key['id']}", as_admin)[0] == 204
        found["key"].append(_until_refused(connections, as_key, 401))
        demote = {"roles": ["DEFAULT"]}
        assert admin.call("PUT", f"/api/users/{user['id']}/roles", as_admin, demote)[0] == 200
        found["user"].append(_until_refused(connections, as_user, 403))
        for connection in connections:
            connection.http.close()
    admin.http.close()
    return found


def _key(platform: Platform) -> str:
    admin, as_admin = _admin(platform)
    body = {"name": "bench", "roles": ["ANALYST"]}
    key: str = admin.call("POST", "/api/auth/api-keys", as_admin, body)[1]["key"]
    admin.http.close()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    environment_ready()
    rows: dict[str, Any] = {}
    for label, extra in (("cache (default)", {}), ("no cache", {"SHOAL_AUTH_CACHE_SECONDS": "0"})):
        with (
            tempfile.TemporaryDirectory() as root,
            running_platform(Path(root), api_extra_env=extra) as platform,
        ):
            rows[label] = throughput(platform, _key(platform), args.clients, args.seconds)
            if not extra:
                spread = propagation(platform, args.trials)
    print(load_average())
    print(f"GET /api/auth/profile, {args.clients} clients, {args.seconds:.0f} s, 2 API processes")
    for label, row in rows.items():
        print(
            f"  {label:16} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:6.1f} ms"
            f"  p99 {row['p99_ms']:6.1f} ms"
        )
    print(f"refused by every API process after the change's answer ({args.trials} trials):")
    for kind, values in spread.items():
        print(
            f"  {kind:5} p50 {percentile(values, 0.5) * 1e3:6.1f} ms"
            f"  p99 {percentile(values, 0.99) * 1e3:6.1f} ms  max {max(values) * 1e3:6.1f} ms"
        )


if __name__ == "__main__":
    main()
