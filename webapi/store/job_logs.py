"""Job logs: the batches of lines workers ship, bounded per attempt, read back in order.

An attempt's log keeps at most its job type's ``log_limit_bytes`` of messages, a line
counting at least ``LINE_BYTES`` (so empty lines cannot pile up rows): past it, the
oldest batches go and the cut is counted where they were, so a reader sees one
``shoal`` marker line in their place. Lines the worker itself dropped are marked the
same way. Each ``seq`` of an attempt is stored once: a batch that overlaps what is
stored keeps only its new lines (a retry of a batch the API stored but never
answered may have grown since). Nothing here changes a job's state.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping

from shared.enums import AssignmentOutcome
from shared.errors import Forbidden, IllegalState, InvalidInput, NotFound
from shared.jobtypes import JobTypes
from webapi.store.prepared import text as _text
from webapi.store.queue_reads import cursor_values, encode_cursor
from webapi.store.records import Claimant
from webapi.store.sql import logs as sql

# A position in a job's log: (attempt, seq, part); part orders what a chunk shows
# at one seq: the bound's cut marker, then the worker's, then the line itself.
Position = tuple[int, int, int]
TRIMMED, DROPPED, LINE = 0, 1, 2
START: Position = (0, -1, LINE)
MARKER_STREAM = "shoal"
# What a line counts towards the bound at least: about what it costs stored beside
# its message (seq, time, level, stream as JSON), so 1 MiB holds at most 16,384 lines.
LINE_BYTES = 64
_CLOSED = (AssignmentOutcome.SUCCEEDED, AssignmentOutcome.FAILED)


@dataclass(frozen=True)
class Stored:
    """What one batch did: lines stored (0 for a retry), whether the bound cut the log."""

    stored: int
    cut: bool


@dataclass(frozen=True)
class LogPage:
    lines: list[dict[str, Any]]
    next_cursor: str | None  # another page follows
    end_cursor: str | None = None  # after this page's last line: where new lines will be


@dataclass(frozen=True)
class Batch:
    """Lines ``[[seq, time, level, stream, message], ...]`` in increasing seq order."""

    lines: list[list[Any]]
    dropped_lines: int = 0
    dropped_bytes: int = 0


class JobLogs:
    def __init__(self, engine: Engine, registry: JobTypes, default_limit: int) -> None:
        self.engine = engine
        self.registry = registry
        self.default_limit = default_limit

    def limit_of(self, job_type: str, revision: int | None = None) -> int:
        """The bytes of messages one attempt of the type (at that revision) keeps."""
        try:
            own = self.registry.at(job_type, revision).log_limit_bytes
        except InvalidInput:  # a type no longer known: the default bound
            own = None
        return self.default_limit if own is None else own

    def append(self, assignment_id: int, claimant: Claimant, batch: Batch) -> Stored:
        """Store a batch of an attempt's lines; a line whose seq is stored is not again.

        Taken while the attempt is its job's newest and has not reported a result
        (a cancelled, expired or released attempt still flushes what it logged).
        """
        with self.engine.begin() as conn:
            attempt = _open_attempt(conn, assignment_id, claimant)
            limit = self.limit_of(attempt["type"], attempt["type_revision"])
            span = {"first_seq": batch.lines[0][0], "last_seq": batch.lines[-1][0]}
            stored = conn.execute(_text(sql.STORED), {"assignment_id": assignment_id, **span})
            stored_lines = 0
            # The worker's drops stand before the first new line.
            dropped = (batch.dropped_lines, batch.dropped_bytes)
            for run in _new_runs(batch.lines, [tuple(row) for row in stored]):
                stored_lines += self._insert(conn, attempt, run, limit, dropped)
                dropped = (0, 0)
            if stored_lines:
                statement = sql.TRIM
                params = {"assignment_id": assignment_id, "limit": limit, "line_bytes": LINE_BYTES}
            else:  # a retry
                statement, params = sql.IS_CUT, {"assignment_id": assignment_id}
            cut = conn.execute(_text(statement), params).scalar_one()
        return Stored(stored=stored_lines, cut=bool(cut))

    @staticmethod
    def _insert(
        conn: Connection,
        attempt: RowMapping,
        run: list[list[Any]],
        limit: int,
        dropped: tuple[int, int],
    ) -> int:
        """One chunk of lines no chunk holds yet; how many of them it kept."""
        kept, trimmed = _fit(run, limit)
        inserted = conn.execute(
            _text(sql.INSERT_CHUNK),
            {
                "job_id": attempt["job_id"],
                "assignment_id": attempt["id"],
                "attempt": attempt["attempt"],
                "first_seq": run[0][0],
                "last_seq": kept[-1][0],
                "line_count": len(kept),
                "bytes": _bytes(kept),
                "lines": json.dumps(kept, separators=(",", ":"), ensure_ascii=False),
                "dropped_lines": dropped[0],
                "dropped_bytes": dropped[1],
                "trimmed_lines": len(trimmed),
                "trimmed_bytes": _bytes(trimmed),
            },
        ).first()
        return 0 if inserted is None else len(kept)

    def read(
        self, job_id: int, *, attempt: int | None = None, cursor: str | None = None, limit: int
    ) -> LogPage:
        """Up to ``limit`` lines (cut markers included) after ``cursor``, by attempt and seq."""
        position = decode_log_cursor(cursor)
        items: list[tuple[Position, dict[str, Any]]] = []
        with self.engine.connect() as conn:
            while len(items) <= limit:
                chunks = _chunks_after(conn, job_id, attempt, position, limit + 1 - len(items))
                if not chunks:
                    break
                for chunk in chunks:
                    items.extend(p for p in _entries(chunk, chunk["lines"]) if p[0] > position)
                position = (chunks[-1]["attempt"], chunks[-1]["last_seq"], LINE)
        page = items[:limit]
        end = encode_log_cursor(page[-1][0]) if page else cursor
        return LogPage([line for _, line in page], end if len(items) > limit else None, end)

    def last_chunk(self, job_id: int) -> int:
        """Where a live follower starts: after every chunk stored so far."""
        with self.engine.connect() as conn:
            found: int = conn.execute(_text(sql.LAST_CHUNK), {"job_id": job_id}).scalar_one()
            return found

    def since(
        self, job_id: int, after_chunk: int, chunks: int = 50
    ) -> list[tuple[int, dict[str, Any]]]:
        """Chunks stored after ``after_chunk``, by id: ``(chunk id, {"attempt", "lines"})``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(sql.CHUNKS_SINCE),
                {"job_id": job_id, "after_id": after_chunk, "chunks": chunks},
            ).mappings()
            return [
                (
                    row["id"],
                    {
                        "attempt": row["attempt"],
                        "lines": [e for _, e in _entries(row, row["lines"])],
                    },
                )
                for row in rows
            ]

    def tail(self, job_id: int, lines: int = 20) -> list[dict[str, Any]]:
        """The last ``lines`` lines (markers included) of the newest attempt that logged."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(sql.TAIL_CHUNKS), {"job_id": job_id, "lines": lines}
            ).mappings()
            entries = [e for row in rows for _, e in _entries(row, row["lines"])]
        return entries[-lines:]


def _open_attempt(conn: Connection, assignment_id: int, claimant: Claimant) -> RowMapping:
    """The attempt, if it still takes lines from this caller; else why not."""
    row = conn.execute(_text(sql.ATTEMPT), {"assignment_id": assignment_id}).mappings().first()
    if row is None:
        raise NotFound(f"Assignment {assignment_id} not found")
    if (row["claimed_by_user_id"], row["claimed_by_api_key_id"]) != (
        claimant.user_id,
        claimant.api_key_id,
    ):
        raise Forbidden(f"Assignment {assignment_id} is held by another worker")
    outcome = None if row["outcome"] is None else AssignmentOutcome(row["outcome"])
    if outcome in _CLOSED:
        assert outcome is not None
        raise IllegalState(
            f"Assignment {assignment_id} already reported its result ({outcome.value}); "
            "its log is closed"
        )
    if row["job_attempts"] != row["attempt"]:
        raise IllegalState(
            f"Assignment {assignment_id}: a newer attempt of job {row['job_id']} started; "
            "its log is closed"
        )
    return row


def _new_runs(lines: list[list[Any]], stored: list[tuple[int, int]]) -> list[list[list[Any]]]:
    """The lines whose seq is in no ``stored`` range, in runs no stored range splits
    (each run becomes a chunk, so chunks never overlap)."""
    ranges: list[list[int]] = []
    for first, last in sorted(stored):
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], last)
        else:
            ranges.append([first, last])
    starts = [first for first, _ in ranges]
    runs: list[list[list[Any]]] = []
    run_slot = -1
    for line in lines:
        slot = bisect_right(starts, line[0])  # the ranges that start at or before it
        if slot and ranges[slot - 1][1] >= line[0]:
            continue  # stored already: the first write wins
        if runs and slot == run_slot:
            runs[-1].append(line)
        else:
            runs.append([line])
            run_slot = slot
    return runs


def _fit(lines: list[list[Any]], limit: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """(kept, cut): the newest lines that fit in ``limit`` (at least the last); the
    kept ones count their messages' bytes, or ``LINE_BYTES`` a line if that is more."""
    total, start = 0, len(lines)
    while start > 0:
        size = total + len(lines[start - 1][4].encode())
        kept = len(lines) - start + 1
        if max(size, kept * LINE_BYTES) > limit and start < len(lines):
            break
        total = size
        start -= 1
    return lines[start:], lines[:start]


def _bytes(lines: Sequence[Sequence[Any]]) -> int:
    return sum(len(line[4].encode()) for line in lines)


def _chunks_after(
    conn: Connection, job_id: int, attempt: int | None, after: Position, wanted: int
) -> list[dict[str, Any]]:
    """The next chunks (with their lines) after ``after``: enough for ``wanted`` entries."""
    metas = conn.execute(
        _text(sql.CHUNKS_AFTER),
        {
            "job_id": job_id,
            "attempt": attempt,
            "after_attempt": after[0],
            # A marker's position stands before its seq: that line is still to come.
            "after_seq": after[1] if after[2] == LINE else after[1] - 1,
            "chunks": wanted + 1,
        },
    ).mappings()
    picked: list[dict[str, Any]] = []
    room = wanted
    for meta in metas:
        if room <= 0:
            break
        picked.append(dict(meta))
        room -= meta["line_count"] + 2  # an upper bound: the reader loops when short
    if not picked:
        return []
    found = conn.execute(_text(sql.CHUNK_LINES), {"ids": [c["id"] for c in picked]})
    lines: dict[int, str] = dict(found.all())
    return [{**chunk, "lines": lines[chunk["id"]]} for chunk in picked]


def _entries(chunk: Mapping[Any, Any], raw: str) -> Iterator[tuple[Position, dict[str, Any]]]:
    """A chunk's markers and lines, each with its position, as the wire shows them."""
    lines = json.loads(raw)
    # Markers stand just before the chunk's first line kept.
    attempt, (first, when) = chunk["attempt"], lines[0][:2]
    if chunk["trimmed_lines"]:
        message = (
            f"{chunk['trimmed_lines']} earlier lines ({chunk['trimmed_bytes']} bytes) were cut: "
            "this attempt's log is over its size limit, only its newest lines are kept"
        )
        yield (attempt, first, TRIMMED), _marker(attempt, first, when, message)
    if chunk["dropped_lines"]:
        message = (
            f"{chunk['dropped_lines']} lines ({chunk['dropped_bytes']} bytes) were dropped by "
            "the worker: it could not ship them fast enough"
        )
        yield (attempt, first, DROPPED), _marker(attempt, first, when, message)
    for seq, time, level, stream, message in lines:
        yield (
            (attempt, seq, LINE),
            {
                "attempt": attempt,
                "seq": seq,
                "time": time,
                "level": level,
                "stream": stream,
                "message": message,
            },
        )


def _marker(attempt: int, seq: int, time: str, message: str) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "seq": seq,
        "time": time,
        "level": "WARNING",
        "stream": MARKER_STREAM,
        "message": message,
    }


def encode_log_cursor(position: Position) -> str:
    return encode_cursor(*position, version="l1")


def decode_log_cursor(cursor: str | None) -> Position:
    """The position a page continues after; a cursor we did not issue is a 400."""
    if not cursor:
        return START
    attempt, seq, part = cursor_values(cursor, "l1", 3, "after")
    return attempt, seq, part
