"""Thousands of waiting clients on one ``shoal webapi`` with its default settings.

    .venv/bin/python bench/connections.py [--claims 2000] [--streams 500] [--users 50]
                                          [--seconds 60] [--jobs 200]

1. Hold: ``--claims`` long-poll claims (waitSeconds 20, one ``ecsTaskArn`` each, as a
   fleet sharing one WORKER key would; re-issued as they return) and ``--streams``
   event streams (``--users`` analysts, each following their own POLYGON_STATS jobs,
   which no claimer takes) stay open for ``--seconds``, while 4 probe clients in
   another process read ``/api/health`` and ``GET /api/jobs/:id`` in a loop: their
   latency and errors, and the RSS of each API process at the end.
2. Wake: ``--jobs`` TEST jobs created one by one, each only once the previous one was
   claimed: every job must be claimed exactly once (checked in SQL), the claim
   statements run per created job (``shoal_claims_run`` in /metrics, summed over
   the API's processes), and the wake-up latency (create answered → claim answered).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import multiprocessing
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import text

from bench.harness import Platform, running_platform
from bench.measure import load_average, percentile
from bench.support import machine, print_table

WAIT_SECONDS = 20
PASSWORD = "bench-password-1234"


@dataclass
class Held:
    claims_sent: int = 0
    claims_answered: dict[int, int] = field(default_factory=dict)
    claim_errors: int = 0
    streams_open: int = 0
    stream_errors: int = 0
    claimed: dict[int, float] = field(default_factory=dict)  # job id → answered at (monotonic)


# -- the waiting clients (one asyncio process) --------------------------------
async def _claimer(url: str, key: str, arn: str, held: Held, stop: asyncio.Event) -> None:
    """One worker's long-polls, re-issued as they return, on one kept-alive connection.

    A plain HTTP/1.1 client on asyncio streams: thousands of them in one process must
    cost less than the server they measure.
    """
    parsed = urlparse(url)
    body = json.dumps(
        {
            "jobTypes": ["TEST"],
            "ecsTaskArn": arn,
            "ecsClusterArn": "bench",
            "waitSeconds": WAIT_SECONDS,
        }
    ).encode()
    request = (
        f"POST /api/jobs/claim HTTP/1.1\r\nHost: {parsed.netloc}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
    try:
        while not stop.is_set():
            held.claims_sent += 1
            writer.write(request)
            status, answer = await _answer(reader)
            held.claims_answered[status] = held.claims_answered.get(status, 0) + 1
            if status == 200:
                held.claimed[json.loads(answer)["job"]["id"]] = time.monotonic()
            elif status != 204:
                held.claim_errors += 1
                await asyncio.sleep(1)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        held.claim_errors += 1
    finally:
        writer.close()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return status, body


async def _follower(
    client: httpx.AsyncClient, job_id: int, token: str, held: Held, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    opened = False
    try:
        async with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers) as stream:
            if stream.status_code != 200:
                held.stream_errors += 1
                return
            opened = True
            held.streams_open += 1
            async for _ in stream.aiter_lines():
                if stop.is_set():
                    break
    except httpx.HTTPError:
        held.stream_errors += 1
    finally:
        held.streams_open -= opened


async def _hold(url: str, key: str, follows: list[tuple[int, str]], claims: int, conn) -> None:  # type: ignore[no-untyped-def]
    held, stop = Held(), asyncio.Event()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(WAIT_SECONDS + 30)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as users:
        tasks = [
            asyncio.create_task(_claimer(url, key, f"bench-{i}", held, stop)) for i in range(claims)
        ]
        tasks += [
            asyncio.create_task(_follower(users, job_id, token, held, stop))
            for job_id, token in follows
        ]
        loop = asyncio.get_running_loop()
        while True:  # commands from the parent: "status", "claimed", "stop"
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "claimed":
                conn.send(dict(held.claimed))
            else:
                conn.send(
                    {
                        "claims_sent": held.claims_sent,
                        "answers": held.claims_answered,
                        "claim_errors": held.claim_errors,
                        "streams_open": held.streams_open,
                        "stream_errors": held.stream_errors,
                    }
                )
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    conn.send("stopped")


def _hold_process(url: str, key: str, follows: list[tuple[int, str]], claims: int, conn) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_hold(url, key, follows, claims, conn))


# -- the probes (threads in this process) -------------------------------------
@dataclass
class Probes:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"health": [], "job": []})
    errors: int = 0


def _probe(url: str, token: str, job_id: int, seconds: float, probes: Probes) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            for name, path, hdrs in (
                ("health", "/api/health", {}),
                ("job", f"/api/jobs/{job_id}", headers),
            ):
                started = time.perf_counter()
                try:
                    answer = client.get(path, headers=hdrs)
                    if answer.status_code != 200:
                        probes.errors += 1
                except httpx.HTTPError:
                    probes.errors += 1
                probes.latencies[name].append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)


# -- setup --------------------------------------------------------------------
def _users(platform: Platform, count: int, per_user: int) -> list[tuple[int, str]]:
    """``count`` analysts, each with ``per_user`` POLYGON_STATS jobs: (job id, token) pairs."""
    admin = platform.admin_client()
    follows: list[tuple[int, str]] = []
    with httpx.Client(base_url=platform.url, timeout=60) as http:
        admin_token = http.post(
            "/api/auth/login",
            json={"email": "bench-admin@example.org", "password": platform.admin_password},
        ).json()["token"]
        for n in range(count):
            email = f"bench-user-{n}@example.org"
            http.post(
                "/api/users",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={"email": email, "password": PASSWORD, "roles": ["ANALYST"]},
            )
            token = http.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            ).json()["token"]
            for k in range(per_user):
                x = (n * per_user + k) * 0.01
                ring = [[x, 0], [x + 0.005, 0], [x + 0.005, 0.005], [x, 0.005], [x, 0]]
                created = http.post(
                    "/api/jobs",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "type": "POLYGON_STATS",
                        "inputPayload": {"polygon": {"type": "Polygon", "coordinates": [ring]}},
                    },
                )
                follows.append((created.json()["jobId"], token))
    admin.close()
    return follows


def _rss_mb(master_pid: int) -> list[float]:
    children = subprocess.run(
        ["pgrep", "-P", str(master_pid)], capture_output=True, text=True, check=False
    )
    sizes = []
    for pid in children.stdout.split():
        status = Path(f"/proc/{pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        sizes.append(kb / 1024)
    return sizes


def _claims_run(url: str) -> float:
    body = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^shoal_claims_run_total\{[^}]*\} (\S+)$", body, re.M))


def _wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


# -- the run ------------------------------------------------------------------
def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="shoal-bench-conn-"))
    overrides = {"TEST": {"leaseSeconds": 900}}
    with running_platform(root, job_overrides=overrides) as platform:
        follows = _users(platform, args.users, args.streams // args.users)
        analyst = follows[0][1]
        parent, child = multiprocessing.Pipe()
        holder = multiprocessing.get_context("spawn").Process(
            target=_hold_process,
            args=(platform.url, platform.worker_key, follows, args.claims, child),
        )
        holder.start()

        def waiting() -> float:
            body = httpx.get(f"{platform.url}/metrics", timeout=10).text
            found = re.search(r"^shoal_waiting_claims (\S+)$", body, re.M)
            return float(found.group(1)) if found else 0.0

        ramp_started = time.monotonic()
        _wait_until(lambda: waiting() >= 0.99 * args.claims, 120)
        ramp = time.monotonic() - ramp_started
        probes = Probes()
        threads = [
            threading.Thread(
                target=_probe, args=(platform.url, analyst, follows[0][0], args.seconds, probes)
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss = _rss_mb(platform.api.process.pid)  # type: ignore[union-attr]
        waiting_at_end = waiting()
        parent.send("status")
        status = parent.recv()

        # Phase 2: jobs one by one, each claimed by a waiter before the next.
        with httpx.Client(
            base_url=platform.url, timeout=30, headers={"Authorization": f"Bearer {analyst}"}
        ) as http:
            claims_before = _claims_run(platform.url)
            created_at: dict[int, float] = {}
            for n in range(args.jobs):
                answer = http.post("/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}})
                job_id = answer.json()["jobId"]
                created_at[job_id] = time.monotonic()
                _wait_until(lambda j=job_id: _claimed_in_sql(platform, j), 10)
            time.sleep(0.5)  # the last answers are on their way to the holder
            claims_after = _claims_run(platform.url)
        parent.send("claimed")
        claimed = parent.recv()
        parent.send("stop")
        parent.recv()
        holder.join(30)
        with platform.sql().connect() as conn:
            assignments: dict[int, int] = dict(
                conn.execute(
                    text(
                        "SELECT j.id, count(a.id) FROM jobs j"
                        " LEFT JOIN job_assignments a ON a.job_id = j.id"
                        " WHERE j.type = 'TEST' GROUP BY j.id"
                    )
                ).all()
            )
        wakes = [(claimed[j] - created_at[j]) * 1000 for j in created_at if j in claimed]
        _report(
            args,
            Measured(
                ramp=ramp,
                probes=probes,
                rss=rss,
                waiting_at_end=waiting_at_end,
                status=status,
                assignments=assignments,
                created_at=created_at,
                claims_run=claims_after - claims_before,
                wakes=wakes,
                internal_errors=platform.api.internal_errors(),
            ),
        )


@dataclass
class Measured:
    """What one run measured, for the table."""

    ramp: float
    probes: Probes
    rss: list[float]
    waiting_at_end: float
    status: dict[str, Any]
    assignments: dict[int, int]
    created_at: dict[int, float]
    claims_run: float
    wakes: list[float]
    internal_errors: int


def _claimed_in_sql(platform: Platform, job_id: int) -> bool:
    with platform.sql().connect() as conn:
        return bool(
            conn.execute(
                text("SELECT status = 'IN_PROGRESS' FROM jobs WHERE id = :j"), {"j": job_id}
            ).scalar()
        )


def _report(args: argparse.Namespace, m: Measured) -> None:
    once = sum(1 for j in m.created_at if m.assignments.get(j) == 1)
    rows: list[list[Any]] = [
        [
            "waiting claims held (re-issued as they return)",
            f"{int(m.waiting_at_end)} of {args.claims}",
            "",
        ],
        ["event streams open", f"{m.status['streams_open']} of {args.streams}", ""],
        ["ramp-up to all claims waiting (s)", m.ramp, ""],
        ["claims sent / answered (by status)", m.status["claims_sent"], str(m.status["answers"])],
        ["claim / stream errors", f"{m.status['claim_errors']} / {m.status['stream_errors']}", "0"],
    ]
    for name in ("health", "job"):
        values = m.probes.latencies[name]
        label = "/api/health" if name == "health" else "GET /api/jobs/:id"
        rows.append(
            [
                f"{label} p50 / p99 ms ({len(values)} requests)",
                f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}",
                "p99 ≤ 100",
            ]
        )
    rows += [
        ["probe errors", m.probes.errors, "0"],
        ["RSS per API process (MB)", " / ".join(f"{v:.0f}" for v in m.rss), "≤ 200"],
        [f"jobs claimed exactly once (of {len(m.created_at)})", once, str(len(m.created_at))],
        ["claim statements run per created job", m.claims_run / max(len(m.created_at), 1), "≤ 2"],
        [
            "wake-up p50 / p99 ms",
            f"{percentile(m.wakes, 0.5):.1f} / {percentile(m.wakes, 0.99):.1f}",
            "p50 ≤ 10",
        ],
        ["HTTP 500s in the API's log", m.internal_errors, "0"],
    ]
    print(f"\n{machine()}; {load_average()}; {args.seconds:.0f} s hold\n")
    print_table(["measure", "shoal", "goal"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--jobs", type=int, default=200)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
