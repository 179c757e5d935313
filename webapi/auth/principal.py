"""Who is calling: a user with a bearer token, or an API key acting for its creator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.enums import UserRole


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of the current request.

    ``user_id`` is the user (for an API key, the admin who created it) that owns
    what the caller creates; ``roles`` are the token's user's roles or the key's.
    """

    user_id: int
    email: str
    roles: frozenset[str]
    api_key_id: int | None = None

    @property
    def credential(self) -> str:
        """Names the credential in use (``key:<id>`` or ``user:<id>``), e.g. a lease's owner."""
        return f"key:{self.api_key_id}" if self.api_key_id is not None else f"user:{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return UserRole.ADMIN.value in self.roles

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether the caller holds one of ``roles``; an admin holds them all."""
        return self.is_admin or not self.roles.isdisjoint(roles)

    def can_access(self, owner_id: int) -> bool:
        """Whether the caller may see or change a resource owned by ``owner_id``."""
        return self.is_admin or owner_id == self.user_id
