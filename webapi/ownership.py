"""Owner-scoped rows: the owner or an admin may use them; others get 403, missing 404."""

from __future__ import annotations

from typing import Protocol, TypeVar

from shared.errors import Forbidden, NotFound
from webapi.auth.principal import Principal


class Owned(Protocol):
    @property
    def user_id(self) -> int: ...


T = TypeVar("T", bound=Owned)


def owned(row: T | None, principal: Principal, *, what: str) -> T:
    """The row, if it exists and the caller may use it; ``what`` names it in the errors."""
    if row is None:
        raise NotFound(f"{what} not found.")
    if not principal.can_access(row.user_id):
        raise Forbidden(f"That {what.lower()} belongs to another user.")
    return row


def owner_filter(principal: Principal) -> int | None:
    """Whose rows a listing shows: the caller's, or everyone's (None) for an admin."""
    return None if principal.is_admin else principal.user_id
