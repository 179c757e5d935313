"""From a credential to the caller: an API key or a token's user id → :class:`Principal`.

Both go through this process's :class:`PrincipalCache`, so a request usually needs no
query. A key acts for the user who owns it and never grants more than that user
holds now: its effective roles are its own roles that the owner still has (an ADMIN
owner has them all), so demoting or deleting the owner narrows or ends the key too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy import Connection

from shared.enums import UserRole
from shared.errors import Unauthorized
from webapi.auth.principal import Principal
from webapi.auth.principal_cache import KeyEntry, PrincipalCache, UserEntry
from webapi.services import services
from webapi.store import accounts as store_accounts
from webapi.store import auth as store

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
    entry = cache.key(key_hash, lambda: _with_connection(lambda c: load_key(c, key_hash)))
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


def load_key(conn: Connection, key_hash: str) -> KeyEntry | None:
    """A live key from the database, noting its use (at most once a minute)."""
    resolution = LAST_USED_RESOLUTION.total_seconds()
    found = store.load_api_key(conn, key_hash, resolution_seconds=resolution)
    if found is None:
        return None
    key_id, user_id, roles = found
    return KeyEntry(key_id=key_id, user_id=user_id, roles=frozenset(roles))


def load_user(conn: Connection, user_id: int) -> UserEntry | None:
    row = store_accounts.user_by_id(conn, user_id)
    if row is None:
        return None
    return UserEntry(user_id=row.id, email=row.email, roles=frozenset(row.roles))


def _user(cache: PrincipalCache, user_id: int) -> UserEntry | None:
    return cache.user(user_id, lambda: _with_connection(lambda c: load_user(c, user_id)))


def _with_connection(load: Callable[[Connection], T]) -> T:
    with services().transaction() as conn:
        return load(conn)
