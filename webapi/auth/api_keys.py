"""API keys: stored as a SHA-256 hash; each acts for its owner, with at most the owner's roles.

A user creates, lists and revokes their own; an admin also creates keys for others
(the key then acts as that user) and lists and revokes anyone's.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import Connection

from shared.enums import AuditAction, UserRole
from shared.errors import InvalidInput, NotFound
from webapi import audit
from webapi.accounts import check_roles
from webapi.auth.principal import Principal
from webapi.auth.principal_cache import announce
from webapi.auth.principals import hash_key
from webapi.store import accounts as store_accounts
from webapi.store import auth as store
from webapi.store.records import ApiKeyRecord

KEY_PREFIX = "shoal_"


def create_api_key(
    conn: Connection, *, name: str, roles: Iterable[str], owner_id: int, actor_id: int | None
) -> tuple[ApiKeyRecord, str]:
    """A new key acting for ``owner_id``; returns the row and the key, shown only once.

    Its roles must be the owner's (an ADMIN owner holds them all): a key never acts
    with more than the user it acts as.
    """
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("Invalid name.", errors={"name": ["Must be 1 to 200 characters."]})
    checked = check_roles(roles)
    owner = store_accounts.user_by_id(conn, owner_id)
    if owner is None:
        reason = f"No user with id {owner_id} to own the key."
        raise InvalidInput(reason, errors={"ownerId": [reason]})
    missing = [] if UserRole.ADMIN.value in owner.roles else sorted(set(checked) - set(owner.roles))
    if missing:
        reason = f"{owner.email} does not hold the role(s) {', '.join(missing)} this key asks for."
        raise InvalidInput(reason, errors={"roles": [reason]})
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = store.insert_api_key(
        conn,
        name=name,
        key_hash=hash_key(key),
        prefix=key[: len(KEY_PREFIX) + 6],
        roles=checked,
        user_id=owner_id,
    )
    audit.record(
        conn,
        AuditAction.API_KEY_CREATED,
        user_id=owner_id,
        actor_id=actor_id,
        api_key_id=row.id,
        name=name,
        roles=checked,
    )
    return row, key


def keys_visible_to(principal: Principal) -> int | None:
    """Whose keys ``principal`` may list and revoke: their own, or everyone's (None) for
    an admin."""
    return None if principal.is_admin else principal.user_id


def list_api_keys(conn: Connection, owner_id: int | None = None) -> list[ApiKeyRecord]:
    """Every key not revoked (``owner_id``'s only, when given), oldest first."""
    return store.live_api_keys(conn, owner_id)


def revoke_api_key(
    conn: Connection, key_id: int, *, actor_id: int | None, owner_id: int | None = None
) -> None:
    """Revoke a live key (only one of ``owner_id``'s, when given: another's is not found)."""
    row = store.revoke_api_key(conn, key_id, owner_id)
    if row is None:
        raise NotFound("API key not found.")
    announce(conn, "key", row.id)
    audit.record(
        conn,
        AuditAction.API_KEY_REVOKED,
        user_id=row.user_id,
        actor_id=actor_id,
        api_key_id=row.id,
        name=row.name,
    )
