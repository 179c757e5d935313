"""From a credential to the caller: an API key or a token's user id → :class:`Principal`.

Both go through this process's :class:`PrincipalCache`, so a request usually needs no
query. A key acts for the user who owns it and never grants more than that user
holds now: its effective roles are its own roles that the owner still has (an ADMIN
owner has them all), so demoting or deleting the owner narrows or ends the key too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.enums import UserRole
from shared.errors import Unauthorized
from webapi.auth.principal import Principal
from webapi.auth.principal_cache import KeyEntry, PrincipalCache, UserEntry
from webapi.services import services
from webapi.store.models import ApiKey, User

T = TypeVar("T")
EXTENSION = "shoal_principals"
INVALID_KEY = "Invalid or revoked API key."
INVALID_TOKEN = "Invalid token."
# Recording every use would turn each request into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def init_principals(app: Flask, ttl_seconds: float) -> PrincipalCache:
    cache = PrincipalCache(ttl_seconds)
    app.extensions[EXTENSION] = cache
    return cache


def effective_roles(key_roles: Iterable[str], owner_roles: Iterable[str]) -> frozenset[str]:
    """The roles a key grants now: its own that its owner still holds."""
    owner = frozenset(owner_roles)
    if UserRole.ADMIN.value in owner:
        return frozenset(key_roles)
    return frozenset(key_roles) & owner


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def principal_for_key(key: str) -> Principal:
    """The caller an API key stands for; ``Unauthorized`` if revoked or unknown."""
    key_hash = hash_key(key.strip())
    cache: PrincipalCache = current_app.extensions[EXTENSION]
    entry = cache.key(key_hash, lambda: _with_session(lambda s: load_key(s, key_hash)))
    owner = None if entry is None else _user(cache, entry.user_id)
    if entry is None or owner is None:
        raise Unauthorized(INVALID_KEY)
    return Principal(
        user_id=owner.user_id,
        email=owner.email,
        roles=effective_roles(entry.roles, owner.roles),
        api_key_id=entry.key_id,
    )


def principal_for_user(user_id: int) -> Principal:
    """The caller a valid token names; ``Unauthorized`` once the user is deleted."""
    user = _user(current_app.extensions[EXTENSION], user_id)
    if user is None:
        raise Unauthorized(INVALID_TOKEN)
    return Principal(user_id=user.user_id, email=user.email, roles=user.roles)


def load_key(session: Session, key_hash: str) -> KeyEntry | None:
    """A live key from the database, noting its use (at most once a minute)."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked.is_(False))
    ).one_or_none()
    if row is None:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return KeyEntry(key_id=row.id, user_id=row.user_id, roles=frozenset(row.roles))


def load_user(session: Session, user_id: int) -> UserEntry | None:
    row = session.get(User, user_id)
    if row is None:
        return None
    return UserEntry(user_id=row.id, email=row.email, roles=frozenset(row.roles))


def _user(cache: PrincipalCache, user_id: int) -> UserEntry | None:
    return cache.user(user_id, lambda: _with_session(lambda s: load_user(s, user_id)))


def _with_session(load: Callable[[Session], T]) -> T:
    with services().session() as session:
        return load(session)
