"""Create, claim and complete one job per round: over HTTP, through the queue layer in
this process, and as the queue layer's SQL statements under pgbench (the limit).

Used by bench/api.py; the HTTP clients here are shared with its wake-up benchmark.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable

import httpx
from sqlalchemy import text

from bench import queue_layer as queue_bench
from bench.harness import ANALYST_EMAIL, Platform
from bench.support import run_threads
from shared.enums import JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store.engine import make_engine
from webapi.store.queue import Queue, StorageTarget
from webapi.store.records import Claimant
from webapi.store.sql import create as create_sql

CLAIM_BODY = {"jobTypes": ["TEST"], "ecsTaskArn": "bench", "ecsClusterArn": "bench"}
_ids = itertools.count(1)
_ids_lock = threading.Lock()


def next_id() -> int:
    with _ids_lock:
        return next(_ids)


# -- clients -----------------------------------------------------------------
_tokens: dict[str, str] = {}
_tokens_lock = threading.Lock()


def analyst_client(platform: Platform) -> httpx.Client:
    """A client with the analyst's token; one login for all (logins are throttled)."""
    with _tokens_lock:
        if platform.url not in _tokens:
            login = httpx.post(
                f"{platform.url}/api/auth/login",
                json={"email": ANALYST_EMAIL, "password": platform.analyst_password},
                timeout=30,
            )
            login.raise_for_status()
            _tokens[platform.url] = login.json()["token"]
        token = _tokens[platform.url]
    return httpx.Client(
        base_url=platform.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def worker_client(platform: Platform) -> httpx.Client:
    headers = {"X-API-Key": platform.worker_key}
    return httpx.Client(base_url=platform.url, headers=headers, timeout=60)


def ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url.path}: HTTP {response.status_code}")
    return response


def complete(worker: httpx.Client, assignment_id: int) -> None:
    body = {"status": "SUCCEEDED", "resultPayload": {}}
    ok(worker.post(f"/api/jobs/assignments/{assignment_id}/result", json=body))


# -- round trips ---------------------------------------------------------------
def _for_seconds(
    clients: int, seconds: float, round_trip: Callable[[], Callable[[], None]]
) -> float:
    """Round trips per second: ``clients`` threads, each repeating its round trip."""
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        one = round_trip()  # per-thread setup (clients, connections)
        while time.monotonic() < deadline:
            one()
            counts[index] += 1

    seconds = run_threads(clients, run)
    return sum(counts) / seconds


def http_round_trips(platform: Platform, clients: int, seconds: float) -> float:
    """Create (analyst), claim and complete (worker key), over HTTP."""
    opened: list[httpx.Client] = []

    def setup() -> Callable[[], None]:
        analyst, worker = analyst_client(platform), worker_client(platform)
        opened.extend((analyst, worker))

        def one() -> None:
            body = {"type": "TEST", "inputPayload": {"id": next_id()}}
            ok(analyst.post("/api/jobs", json=body))
            claimed = ok(worker.post("/api/jobs/claim", json={**CLAIM_BODY, "waitSeconds": 0}))
            if claimed.status_code == 200:
                complete(worker, claimed.json()["assignment"]["id"])

        return one

    try:
        return _for_seconds(clients, seconds, setup)
    finally:
        for client in opened:
            client.close()


def queue_round_trips(platform: Platform, user: int, clients: int, seconds: float) -> float:
    """The same three steps through the queue layer, in this process."""
    engine = make_engine(platform.database.url, pool_size=clients + 1, max_overflow=0)
    queue = Queue(engine, default_registry(), StorageTarget(StorageScheme.LOCAL, "file:///b"))
    claimant = Claimant("bench", "bench", user)

    def setup() -> Callable[[], None]:
        def one() -> None:
            queue.create(user_id=user, job_type="TEST", payload={"id": next_id()})
            claimed = queue.claim(["TEST"], claimant)
            if claimed is not None:
                queue.complete(
                    claimed.assignment.id, claimant, status=JobStatus.SUCCEEDED, result_payload={}
                )

        return one

    try:
        return _for_seconds(clients, seconds, setup)
    finally:
        engine.dispose()


def raw_round_trips(platform: Platform, user: int, clients: int, rounds: int) -> float:
    """The queue layer's statements for create, claim and complete, under pgbench."""
    done, seconds = queue_bench.run_pgbench(
        platform.database.url, user, clients, rounds, prefix=create_script(user)
    )
    return done / seconds


def create_script(user: int) -> str:
    """The statements of Queue.create, as pgbench SQL with a random payload id."""
    literals = {
        "type": "'TEST'",
        "user_id": str(user),
        "hash": "md5(:n::text)",
        "payload": "jsonb_build_object('id', :n::bigint)::text",
        "timeout_seconds": "NULL",
        "owner": "NULL",
        "max_attempts": "3",
        "lease_seconds": "60",
        "cache_hit": "false",
        "job_id": ":job__id",
        "priority": "0",
        "type_revision": "NULL",
        "name": "NULL",
        "tags": "'{}'",
        "status": "'PENDING'",
    }

    def fill(statement: str) -> str:
        for name, literal in literals.items():
            statement = re.sub(rf":{name}\b", literal, statement)
        return statement.strip()

    return "\n".join(
        [
            "\\set n random(1, 2000000000)",
            "BEGIN;",
            fill(create_sql.LOCK_HASH) + ";",
            fill(create_sql.FIND_CACHED) + ";",
            fill(create_sql.INSERT_JOB) + " \\gset",
            fill(create_sql.INSERT_REQUEST) + ";",
            "COMMIT;",
            "",
        ]
    )


# Pending jobs ahead of the round trips. Without them a claim can find nothing: the
# jobs its snapshot sees may all be taken by faster clients, while the newer ones
# are not visible to it yet; a worker simply claims again, but pgbench aborts.
BACKLOG_PER_CLIENT = 50


def backlog(platform: Platform, user: int, jobs: int) -> None:
    """Add ``jobs`` pending TEST jobs, older than any the round trips create."""
    with platform.sql().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                " lease_seconds) SELECT 'TEST', :user, jsonb_build_object('id', -i),"
                " md5((-i)::text), 3, 60 FROM generate_series(1, :n) i"
            ),
            {"user": user, "n": jobs},
        )
