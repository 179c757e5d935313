"""API keys: created by admins, stored as a SHA-256 hash, revoked by admins."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import Connection

from shared.enums import AuditAction
from shared.errors import InvalidInput, NotFound
from webapi import audit
from webapi.accounts import check_roles
from webapi.auth.principal_cache import announce
from webapi.auth.principals import hash_key
from webapi.store import auth as store
from webapi.store.records import ApiKeyRecord

KEY_PREFIX = "shoal_"


def create_api_key(
    conn: Connection, *, name: str, roles: Iterable[str], owner_id: int, actor_id: int | None
) -> tuple[ApiKeyRecord, str]:
    """A new key acting for ``owner_id``; returns the row and the key, shown only once."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("Invalid name.", errors={"name": ["Must be 1 to 200 characters."]})
    checked = check_roles(roles)
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


def list_api_keys(conn: Connection) -> list[ApiKeyRecord]:
    """Every key not revoked, oldest first."""
    return store.live_api_keys(conn)


def revoke_api_key(conn: Connection, key_id: int, *, actor_id: int | None) -> None:
    row = store.revoke_api_key(conn, key_id)
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
