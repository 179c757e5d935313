"""Owner-scoped rows: the owner or an admin may use them; others get 403, missing 404."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import Forbidden, NotFound
from webapi.auth.principal import Principal


class Owned(Protocol):
    user_id: int


T = TypeVar("T", bound=Owned)


def load_owned(
    session: Session,
    model: type[T],
    row_id: int,
    principal: Principal,
    *,
    what: str,
    lock: bool = False,
) -> T:
    """The row, if the caller may use it; ``what`` names it in the error messages."""
    row = session.get(model, row_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"{what} not found.")
    if not principal.can_access(row.user_id):
        raise Forbidden(f"That {what.lower()} belongs to another user.")
    return row


def list_owned(session: Session, model: Any, principal: Principal) -> Sequence[Any]:
    """The caller's rows of ``model`` (every row for an admin), oldest first."""
    statement = select(model).order_by(model.id)
    if not principal.is_admin:
        statement = statement.where(model.user_id == principal.user_id)
    return session.scalars(statement).all()
