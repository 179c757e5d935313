"""Batch creation rate: one ``POST /api/jobs/batch`` of 5,000 and of 10,000 inputs.

    .venv/bin/python bench/batches.py [--sizes 5000 10000] [--trials 3]

Each trial sends one batch of distinct ``TEST`` inputs (so none is a cache hit, every
input is a new job) as JSON to ``shoal webapi`` (gunicorn, two processes) as the
analyst, and times the request from send to answer; jobs/s = inputs / that time.
Beside it, on the same server in the same run:

- the queue layer: ``Batches.create`` in this process (validation, canonical hashes,
  hash locks, the set-wise cache lookup, the insert, the NOTIFY), without HTTP;
- the raw SQL: the same rows (a ``job_batches`` row, the jobs, one ``job_requests`` row
  per input) written by one ``INSERT … SELECT FROM jsonb_to_recordset`` statement over
  psycopg2, with the hashes computed beforehand: what the database itself costs.

The median of ``--trials`` per size is reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from bench.harness import ANALYST_EMAIL, Platform, environment_ready, running_platform
from bench.measure import load_average
from bench.round_trips import analyst_client, ok
from bench.support import machine, print_table
from shared.jobtypes import default_registry
from webapi.store.engine import make_engine
from webapi.store.payloads import canonical_hash
from webapi.store.queue_batches import Batches

# Every input ever sent is new: ids never repeat within a run.
_IDS = itertools.count(1)

RAW_INSERT = """
WITH b AS (
  INSERT INTO job_batches (user_id, type, size) VALUES (%(user_id)s, 'TEST', %(size)s)
  RETURNING id
), x AS (
  SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(hash text, payload jsonb)
), j AS (
  INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts, lease_seconds,
      timeout_seconds)
  SELECT 'TEST', %(user_id)s, x.payload, x.hash, 3, 30, 3900 FROM x
  RETURNING id, input_payload
)
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id)
SELECT %(user_id)s, 'TEST', j.input_payload, false, j.id, b.id FROM j, b
"""


@dataclass
class BatchReport:
    sizes: list[int]
    trials: int
    http: dict[int, list[float]] = field(default_factory=dict)  # seconds per trial
    queue: dict[int, list[float]] = field(default_factory=dict)
    raw: dict[int, list[float]] = field(default_factory=dict)

    def rate(self, kind: str, size: int) -> float:
        """Jobs created per second, from the median time of the trials."""
        seconds: dict[int, list[float]] = getattr(self, kind)
        return size / statistics.median(seconds[size])


def _inputs(size: int) -> list[dict[str, object]]:
    return [{"id": next(_IDS), "durationSeconds": 0} for _ in range(size)]


def _analyst_id(platform: Platform) -> int:
    with platform.sql().connect() as conn:
        found = conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": ANALYST_EMAIL})
        return int(found.scalar_one())


def time_http(platform: Platform, size: int) -> float:
    with analyst_client(platform) as http:
        body = {"type": "TEST", "inputs": _inputs(size)}
        started = time.perf_counter()
        answer = ok(http.post("/api/jobs/batch", json=body, timeout=300))
        elapsed = time.perf_counter() - started
    created = answer.json()["created"]
    if created != size:
        raise RuntimeError(f"expected {size} new jobs, the API created {created}")
    return elapsed


def time_queue(batches: Batches, user_id: int, size: int) -> float:
    inputs = _inputs(size)
    started = time.perf_counter()
    batches.create(user_id=user_id, job_type="TEST", inputs=inputs)
    return time.perf_counter() - started


def time_raw(engine: Engine, user_id: int, size: int) -> float:
    """The raw statement on a pooled psycopg2 connection (as the API's are), committed."""
    rows = [
        {"hash": canonical_hash("TEST", payload), "payload": payload} for payload in _inputs(size)
    ]
    params = {"user_id": user_id, "size": size, "rows": json.dumps(rows)}
    conn = engine.raw_connection()
    try:
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute(RAW_INSERT, params)
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def run_batches(platform: Platform, sizes: list[int], trials: int) -> BatchReport:
    report = BatchReport(sizes, trials)
    user_id = _analyst_id(platform)
    engine = make_engine(platform.database.url, pool_size=2, max_overflow=0)
    batches = Batches(engine, default_registry())
    try:
        time_http(platform, 100)  # warm-up: the processes' first batch, the login
        for size in sizes:
            for _ in range(trials):  # interleaved, so the table's growth hits all three alike
                report.http.setdefault(size, []).append(time_http(platform, size))
                report.queue.setdefault(size, []).append(time_queue(batches, user_id, size))
                report.raw.setdefault(size, []).append(time_raw(engine, user_id, size))
    finally:
        engine.dispose()
    return report


def batch_rows(report: BatchReport) -> list[list[object]]:
    """Per size: jobs/s over HTTP, in the queue layer, as raw SQL, and HTTP / raw."""
    rows: list[list[object]] = []
    for size in report.sizes:
        http, queue, raw = (report.rate(kind, size) for kind in ("http", "queue", "raw"))
        rows.append([f"{size:,}", http, queue, raw, f"{http / raw:.0%}"])
    return rows


HEADERS = ["inputs", "HTTP jobs/s", "queue layer jobs/s", "raw SQL jobs/s", "HTTP / raw"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    environment_ready()
    with (
        tempfile.TemporaryDirectory(prefix="shoal-bench-batches-") as tmp,
        running_platform(Path(tmp)) as platform,
    ):
        report = run_batches(platform, args.sizes, args.trials)
    print(f"machine: {machine()}; {load_average()}; median of {args.trials} trials\n")
    print_table(HEADERS, batch_rows(report))


if __name__ == "__main__":
    main()
