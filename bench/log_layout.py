"""How to store job logs: one row per line, or one row per shipped batch (jsonb or text).

Writes a 10,000-line job (messages of ~100 bytes, like a chatty handler) in batches
of ``--batch`` lines, each batch one transaction, and reports per layout the rows,
the table's bytes on disk (with TOAST and indexes), the insert time and the time to
read the whole log back in order; then the same through ``JobLogs`` into the real
table (its bound check and trim included). Run: ``.venv/bin/python -m bench.log_layout``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from bench.queue_layer import reset
from bench.support import benchmark_database, machine, print_table
from shared.enums import StorageScheme
from shared.jobtypes import default_registry
from webapi.store.engine import make_engine
from webapi.store.job_logs import Batch, JobLogs
from webapi.store.queue import Queue, StorageTarget
from webapi.store.records import Claimant

LINES = 10_000
FIELDS = ("seq", "time", "level", "stream", "message")

SCHEMAS = {
    "row per line": """
CREATE TABLE bench_lines (id bigserial PRIMARY KEY, job_id bigint NOT NULL,
  attempt int NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL, level text NOT NULL,
  stream text NOT NULL, message text NOT NULL, UNIQUE (job_id, attempt, seq))""",
    "chunk, jsonb array": """
CREATE TABLE bench_lines (id bigserial PRIMARY KEY, job_id bigint NOT NULL,
  attempt int NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
  lines jsonb NOT NULL, UNIQUE (job_id, attempt, first_seq))""",
    "chunk, JSON text": """
CREATE TABLE bench_lines (id bigserial PRIMARY KEY, job_id bigint NOT NULL,
  attempt int NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
  lines text NOT NULL, UNIQUE (job_id, attempt, first_seq))""",
}


def _lines() -> list[list[object]]:
    start = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    return [
        [
            seq,
            datetime.fromtimestamp(start + seq / 100, UTC).isoformat().replace("+00:00", "Z"),
            "INFO",
            "stdout" if seq % 3 else "log",
            f"step {seq}: processed tile {seq * 7 % 1000} of 1000, area 12.34 km2, ok " + "x" * 24,
        ]
        for seq in range(LINES)
    ]


def _write_rows(conn: Connection, batch: list[list[object]]) -> None:
    conn.execute(
        text(
            "INSERT INTO bench_lines (job_id, attempt, seq, time, level, stream, message)"
            " VALUES (1, 1, :seq, :time, :level, :stream, :message)"
        ),
        [dict(zip(FIELDS, line, strict=True)) for line in batch],
    )


def _write_chunk(cast: str) -> Callable[[Connection, list[list[object]]], None]:
    def write(conn: Connection, batch: list[list[object]]) -> None:
        conn.execute(
            text(
                "INSERT INTO bench_lines (job_id, attempt, first_seq, last_seq, lines)"
                f" VALUES (1, 1, :first, :last, CAST(:lines AS {cast}))"
            ),
            {"first": batch[0][0], "last": batch[-1][0], "lines": json.dumps(batch)},
        )

    return write


def _read(conn: Connection, layout: str) -> int:
    if layout == "row per line":
        rows = conn.execute(
            text("SELECT seq, time, level, stream, message FROM bench_lines ORDER BY seq")
        ).all()
        return len(rows)
    column = "lines::text" if "jsonb" in layout else "lines"
    chunks = conn.execute(text(f"SELECT {column} FROM bench_lines ORDER BY first_seq")).scalars()
    return sum(len(json.loads(chunk)) for chunk in chunks)


def measure(url: str, batch_size: int) -> list[list[object]]:
    engine = make_engine(url)
    lines = _lines()
    writers = {
        "row per line": _write_rows,
        "chunk, jsonb array": _write_chunk("jsonb"),
        "chunk, JSON text": _write_chunk("text"),
    }
    results: list[list[object]] = []
    for layout, schema in SCHEMAS.items():
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_lines"))
            conn.execute(text(schema))
        began = time.perf_counter()
        for offset in range(0, LINES, batch_size):
            with engine.begin() as conn:
                writers[layout](conn, lines[offset : offset + batch_size])
        wrote = time.perf_counter() - began
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT count(*) FROM bench_lines")).scalar_one()
            size = conn.execute(text("SELECT pg_total_relation_size('bench_lines')")).scalar_one()
            began = time.perf_counter()
            assert _read(conn, layout) == LINES
            read = time.perf_counter() - began
        results.append(
            [layout, batch_size, rows, f"{size / 1024:.0f} KiB", wrote * 1000, read * 1000]
        )
    engine.dispose()
    return results


def measure_stored(url: str, batch_size: int) -> list[object]:
    """The real thing: ``JobLogs.append`` of one attempt into ``job_log_chunks``."""
    engine = make_engine(url)
    registry = default_registry()
    queue = Queue(engine, registry, StorageTarget(StorageScheme.LOCAL, "file:///bench"))
    logs = JobLogs(engine, registry, default_limit=64 * 1024 * 1024)
    user = reset(engine, 1)
    worker = Claimant("bench", "bench", user)
    claimed = queue.claim(["TEST"], worker)
    assert claimed is not None
    lines = _lines()
    began = time.perf_counter()
    for offset in range(0, LINES, batch_size):
        logs.append(claimed.assignment.id, worker, Batch(lines[offset : offset + batch_size]))
    wrote = time.perf_counter() - began
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM job_log_chunks")).scalar_one()
        size = conn.execute(text("SELECT pg_total_relation_size('job_log_chunks')")).scalar_one()
    began = time.perf_counter()
    assert len(logs.read(claimed.job.id, limit=LINES).lines) == LINES
    read = time.perf_counter() - began
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE job_log_chunks"))
    engine.dispose()
    return [
        "job_log_chunks (JobLogs)",
        batch_size,
        rows,
        f"{size / 1024:.0f} KiB",
        wrote * 1000,
        read * 1000,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print(f"{LINES} lines of ~100 bytes ({machine()})")
    with benchmark_database() as (url, _):
        rows = [row for size in args.batch for row in measure(url, size)]
        rows += [measure_stored(url, size) for size in args.batch]
    print_table(["layout", "batch", "rows", "on disk", "insert ms", "read ms"], rows)


if __name__ == "__main__":
    main()
