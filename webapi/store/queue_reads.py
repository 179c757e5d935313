"""Read side of the queue layer: listings with opaque cursors, one job in full, requests.

Nothing here changes state; the writes live in webapi/store/queue.py.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

from shared.errors import InvalidInput
from webapi.store.prepared import text as _text
from webapi.store.records import AssignmentRecord, JobRecord, JobRequestRecord, ResultRecord
from webapi.store.sql import reads as reads_sql

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True)
class JobDetail:
    job: JobRecord
    attempts: list[tuple[AssignmentRecord, ResultRecord | None]]


# Job and request ids are PostgreSQL bigints: a cursor past the largest is not ours.
MAX_ID = 2**63 - 1


def encode_cursor(*values: int, version: str = "v1") -> str:
    raw = ":".join((version, *(str(value) for value in values)))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a page continues before; a cursor we did not issue is a 400."""
    if not cursor:
        return None
    (last_id,) = cursor_values(cursor, "v1", 1, "cursor")
    return last_id


def cursor_values(cursor: str, version: str, count: int, field: str) -> tuple[int, ...]:
    """The ``count`` numbers of a cursor we issued; any other is a 400 naming ``field``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, *values = raw.split(":")
        if (
            found == version
            and len(values) == count
            and all(v.isascii() and v.isdigit() and int(v) <= MAX_ID for v in values)
        ):
            return tuple(int(v) for v in values)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput("cursor is not valid", errors={field: ["Not a cursor from this API."]})


def page_of(found: list[T], limit: int, last_id: Callable[[T], int]) -> Page:
    """A page from ``limit + 1`` rows read: the extra row says there is a next page."""
    items = found[:limit]
    return Page(items, encode_cursor(last_id(items[-1])) if len(found) > limit else None)


class QueueReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, job_id: int) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_text(reads_sql.GET_JOB), {"job_id": job_id}).mappings().first()
        return None if row is None else JobRecord.from_row(row, "job__")

    def detail(self, job_id: int) -> JobDetail | None:
        """The job with every assignment, each with its result or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_text(reads_sql.GET_JOB), {"job_id": job_id}).mappings().first()
            if row is None:
                return None
            rows = conn.execute(_text(reads_sql.ASSIGNMENTS), {"job_id": job_id}).mappings().all()
        attempts = [
            (
                AssignmentRecord.from_row(r, "assignment__"),
                ResultRecord.from_row(r, "result__") if r["result__id"] is not None else None,
            )
            for r in rows
        ]
        return JobDetail(JobRecord.from_row(row, "job__"), attempts)

    def result(self, job_id: int) -> ResultRecord | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(_text(reads_sql.RESULT_OF_JOB), {"job_id": job_id}).mappings().first()
            )
        return None if row is None else ResultRecord.from_row(row, "result__")

    def requested_by(self, job_id: int, user_id: int) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                _text(reads_sql.REQUESTED_BY), {"job_id": job_id, "user_id": user_id}
            )
            return bool(found.scalar_one())

    def requests(self, *, user_id: int | None, limit: int = 50, cursor: str | None = None) -> Page:
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(reads_sql.REQUESTS),
                {"user_id": user_id, "limit": limit + 1, "before": decode_cursor(cursor)},
            ).mappings()
            items = [JobRequestRecord.from_row(row, "request__") for row in rows]
        return page_of(items, limit, lambda item: item.id)
