"""The audit log (``user_logs``): who did what to which account, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from shared.enums import AuditAction
from webapi.store import accounts as store


def record(
    conn: Connection,
    action: AuditAction,
    *,
    user_id: int | None = None,
    actor_id: int | None = None,
    **metadata: Any,
) -> None:
    """Add one entry in the caller's transaction, so it lands only if the change does."""
    store.add_audit_entry(conn, action.value, user_id=user_id, actor_id=actor_id, metadata=metadata)
