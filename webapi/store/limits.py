"""Per-user limits checked when jobs are created (the max-PENDING quota)."""

from __future__ import annotations

from sqlalchemy import Connection

from shared.errors import InvalidInput, TooManyRequests
from webapi.store.models import MAX_PRIORITY
from webapi.store.prepared import text
from webapi.store.sql import create as create_sql


def check_priority(priority: int) -> int:
    """The priority, if within ±``MAX_PRIORITY``; else ``InvalidInput`` naming the range."""
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        reason = f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}"
        raise InvalidInput(reason, errors={"priority": [reason]})
    return priority


def check_pending_limit(conn: Connection, user_id: int, adding: int = 1) -> None:
    """Refuse (429) creating ``adding`` PENDING jobs past the user's ``max_pending``.

    Call it in the creating transaction, just before the insert. When the user has a
    limit, their row stays locked until that transaction ends, so concurrent submits
    (single or batch) of one user are counted one after the other and never overshoot.
    """
    limit = conn.execute(text(create_sql.PENDING_LIMIT), {"user_id": user_id}).scalar()
    if limit is None:
        return
    limit = conn.execute(text(create_sql.LOCK_PENDING_LIMIT), {"user_id": user_id}).scalar()
    if limit is None:
        return
    pending = conn.execute(text(create_sql.PENDING_OF_USER), {"user_id": user_id}).scalar_one()
    if pending + adding > limit:
        what = "a job" if adding == 1 else f"{adding} jobs"
        raise TooManyRequests(
            f"Too many PENDING jobs: you have {pending} and may have at most {limit}"
            f" (maxPending); {what} would exceed it, nothing was created"
        )
