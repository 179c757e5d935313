"""Registered job types in the database: changes that keep every revision, and reads.

The writes run on the caller's connection, in the caller's transaction (the audit
entry of a change is written beside it); the rules of what a type may contain are
``shared/jobtypes/document.py``'s and ``webapi/jobtypes``'.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from webapi.store.prepared import text
from webapi.store.records import JobTypeRecord, JobTypeRevisionRecord
from webapi.store.sql import job_types as sql
from webapi.store.sql.fragments import NOTIFY


class Change(enum.Enum):
    CREATED = "created"  # the type is new: revision 1
    CHANGED = "changed"  # a new revision (or a retired type brought back)
    UNCHANGED = "unchanged"  # the same content: no revision, nothing notified


@dataclass(frozen=True)
class Put:
    change: Change
    current: JobTypeRecord


class JobTypeStore:
    """The statements of ``sql/job_types.py``, each on the connection it is given."""

    def put(
        self,
        conn: Connection,
        name: str,
        definition: dict[str, Any],
        content_hash: str,
        *,
        actor_id: int | None,
    ) -> Put:
        """Make ``definition`` the type's content: a new revision only when its hash differs
        from the current one's, or the type was retired (a PUT brings it back)."""
        conn.execute(text(sql.ENSURE_TYPE), {"name": name})
        locked = conn.execute(text(sql.LOCK_TYPE), {"name": name}).mappings().one()
        if locked["content_hash"] == content_hash and locked["retired_at"] is None:
            return Put(Change.UNCHANGED, self._current(conn, name))
        revision = locked["revision"] + 1
        conn.execute(
            text(sql.INSERT_REVISION),
            {
                "name": name,
                "revision": revision,
                "definition": json.dumps(definition),
                "content_hash": content_hash,
                "created_by": actor_id,
            },
        )
        conn.execute(text(sql.SET_REVISION), {"name": name, "revision": revision})
        _announce(conn, name, revision)
        change = Change.CREATED if revision == 1 else Change.CHANGED
        return Put(change, self._current(conn, name))

    def retire(self, conn: Connection, name: str) -> tuple[bool, JobTypeRecord | None]:
        """(whether it was retired now, the type); (False, None) when there is none."""
        retired = conn.execute(text(sql.RETIRE), {"name": name}).rowcount > 0
        current = self.current(conn, name)
        if retired and current is not None:
            _announce(conn, name, current.revision)
        return retired, current

    def current(self, conn: Connection, name: str) -> JobTypeRecord | None:
        return JobTypeRecord.first_of(conn.execute(text(sql.CURRENT), {"name": name}))

    def all(self, conn: Connection) -> list[JobTypeRecord]:
        """Every registered type, retired ones too, by name."""
        return JobTypeRecord.all_of(conn.execute(text(sql.ALL_CURRENT)))

    def revisions(self, conn: Connection, name: str) -> list[JobTypeRevisionRecord]:
        return JobTypeRevisionRecord.all_of(conn.execute(text(sql.REVISIONS), {"name": name}))

    def revision(self, conn: Connection, name: str, revision: int) -> JobTypeRevisionRecord | None:
        params = {"name": name, "revision": revision}
        return JobTypeRevisionRecord.first_of(conn.execute(text(sql.REVISION), params))

    def _current(self, conn: Connection, name: str) -> JobTypeRecord:
        found = self.current(conn, name)
        assert found is not None, "the type's row was locked in this transaction"
        return found


def _announce(conn: Connection, name: str, revision: int) -> None:
    """Every API process reloads the type once this transaction commits."""
    payload = json.dumps({"name": name, "revision": revision})
    conn.execute(text(NOTIFY), {"channel": sql.CHANNEL, "payload": payload})
