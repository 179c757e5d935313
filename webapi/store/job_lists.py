"""Job lists: filters, sort and keyset cursor in, a page of jobs out (read-only).

A cursor names the sort it was issued for and the last row's ``(key, id)``: the next
page starts after it, so jobs submitted meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from shared.enums import JobStatus
from shared.errors import InvalidInput
from webapi.store.prepared import text
from webapi.store.queue_reads import MAX_ID, Page
from webapi.store.records import JobRecord
from webapi.store.sql import job_lists as sql

# A count stops here, past it the page says "more". Counting a rare filter's matches
# walks many rows for each one counted (10,000 took 0.3 s at 1,000,000 jobs; 1,000 fits
# a page's budget), and a list that matches more than 1,000 is narrowed, not counted.
COUNT_CAP = 1_000
_CURSOR = "v2"


@dataclass(frozen=True)
class JobFilters:
    """Which jobs: ``user_id``'s own and reused ones, or (None) everyone's."""

    user_id: int | None
    owner: int | None = None  # everyone's narrowed to one user's own
    statuses: Sequence[JobStatus] = ()
    type: str | None = None
    batch: int | None = None
    name: str | None = None  # a prefix of the name
    tags: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, Any]:
        """The given filters' statement parameters."""
        given = {
            "owner": self.owner,
            "status": self.statuses[0].value if len(self.statuses) == 1 else None,
            "statuses": [s.value for s in self.statuses] if len(self.statuses) > 1 else None,
            "type": self.type,
            "batch": self.batch,
            "name": None if self.name is None else _prefix_pattern(self.name),
            "tags": json.dumps(dict(self.tags)) if self.tags else None,
            "since": self.since,
            "until": self.until,
        }
        return {name: value for name, value in given.items() if value is not None}

    @property
    def scope(self) -> str:
        return "all" if self.user_id is None else "mine"


@dataclass(frozen=True)
class JobSort:
    key: str = "id"
    descending: bool = True


def _prefix_pattern(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def encode_cursor(sort: JobSort, key: Any, job_id: int) -> str:
    raw = json.dumps([_CURSOR, sort.key, sort.descending, str(key), job_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: JobSort) -> tuple[str, int]:
    """The ``(key, id)`` a page continues after; a cursor not issued for this sort is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, key_name, descending, key, job_id = json.loads(raw)
        if (
            (version, key_name, descending) == (_CURSOR, sort.key, sort.descending)
            and isinstance(key, str)
            and type(job_id) is int
            and 0 < job_id <= MAX_ID
        ):
            return key, job_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        pass
    raise InvalidInput(
        "cursor is not valid for this list",
        errors={"cursor": ["Not a cursor this API issued for this sort and order."]},
    )


@dataclass(frozen=True)
class JobPage(Page):
    capped: bool = False  # more than ``total`` jobs match


class JobLists:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(
        self, filters: JobFilters, sort: JobSort, *, limit: int, cursor: str | None = None
    ) -> JobPage:
        """Up to ``limit`` jobs as dicts (each with ``reused``), the next page's cursor,
        and how many match (at most ``COUNT_CAP``, ``capped`` if more do)."""
        statement, counting, params = statements(filters, sort, limit=limit, cursor=cursor)
        with self.engine.connect() as conn:
            rows = conn.execute(text(statement), params).mappings().all()
            total = conn.execute(text(counting), params).scalar_one()
        items = [
            {**JobRecord.from_row(row, "job__").as_dict(), "reused": row["reused"]}
            for row in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(sort, _key_text(last["sort_key"]), last["job__id"])
        return JobPage(items, next_cursor, min(total, COUNT_CAP), total > COUNT_CAP)


def statements(
    filters: JobFilters, sort: JobSort, *, limit: int, cursor: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """The page's statement (``limit + 1`` rows: one more says there is a next page),
    the count's, and the parameters of both."""
    params = {**filters.params(), "user_id": filters.user_id}
    given = frozenset(params) - {"user_id"}
    after = None if cursor is None else decode_cursor(cursor, sort)
    if after is not None:
        params |= {"after_key": after[0], "after_id": after[1]}
    statement = sql.page(filters.scope, given, sort.key, sort.descending, after is not None)
    return (
        statement,
        sql.count(filters.scope, given),
        {
            **params,
            "limit": limit + 1,
            "cap": COUNT_CAP + 1,
        },
    )


def _key_text(key: Any) -> str:
    """A sort key as a cursor keeps it (PostgreSQL casts it back)."""
    return key.value if isinstance(key, JobStatus) else str(key)
