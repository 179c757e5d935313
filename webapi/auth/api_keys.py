"""API keys: created by admins, stored as a SHA-256 hash, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db.models import ApiKey, User
from shared.enums import AuditAction
from shared.errors import InvalidInput, NotFound, Unauthorized
from webapi import audit
from webapi.accounts import check_roles
from webapi.auth.principal import Principal

KEY_PREFIX = "shoal_"
# Recording every use would turn each request into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID_KEY = "Invalid or revoked API key."


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, *, name: str, roles: Iterable[str], owner_id: int, actor_id: int | None
) -> tuple[ApiKey, str]:
    """A new key acting for ``owner_id``; returns the row and the key, shown only once."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("Invalid name.", errors={"name": ["Must be 1 to 200 characters."]})
    checked = check_roles(roles)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        key_hash=hash_key(key),
        prefix=key[: len(KEY_PREFIX) + 6],
        roles=checked,
        user_id=owner_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        AuditAction.API_KEY_CREATED,
        user_id=owner_id,
        actor_id=actor_id,
        api_key_id=row.id,
        name=name,
        roles=checked,
    )
    return row, key


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    """Every key not revoked, oldest first."""
    statement = select(ApiKey).where(ApiKey.revoked.is_(False)).order_by(ApiKey.id)
    return session.scalars(statement).all()


def revoke_api_key(session: Session, key_id: int, *, actor_id: int | None) -> None:
    row = session.get(ApiKey, key_id, with_for_update=True)
    if row is None or row.revoked:
        raise NotFound("API key not found.")
    row.revoked = True
    audit.record(
        session,
        AuditAction.API_KEY_REVOKED,
        user_id=row.user_id,
        actor_id=actor_id,
        api_key_id=row.id,
        name=row.name,
    )


def principal_for_key(session: Session, key: str) -> Principal:
    """The caller a key stands for; ``Unauthorized`` for an unknown or revoked key."""
    found = session.execute(
        select(ApiKey, User.email)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == hash_key(key.strip()), ApiKey.revoked.is_(False))
    ).one_or_none()
    if found is None:
        raise Unauthorized(INVALID_KEY)
    row, email = found
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return Principal(
        user_id=row.user_id, email=email, roles=frozenset(row.roles), api_key_id=row.id
    )
