"""The audit log (``user_logs``): who did what to which account, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.enums import AuditAction
from webapi.store.models import UserLog


def record(
    session: Session,
    action: AuditAction,
    *,
    user_id: int | None = None,
    actor_id: int | None = None,
    **metadata: Any,
) -> None:
    """Add one entry in the caller's transaction, so it lands only if the change does."""
    session.add(UserLog(action=action, user_id=user_id, actor_id=actor_id, metadata_=metadata))
