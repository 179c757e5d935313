"""Refresh tokens: random opaque strings, stored as a SHA-256 hash with an expiry.

They are not rotated on use (the contract's ``POST /token`` answers only ``{token}``):
a token stays valid until it expires, is logged out, or its user changes password.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection

from shared.errors import Unauthorized
from webapi.store import auth as store
from webapi.store.records import UserRecord

INVALID = "Invalid refresh token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(conn: Connection, user_id: int, *, days: int) -> str:
    token = secrets.token_urlsafe(48)
    store.insert_refresh_token(conn, user_id, token_hash(token), seconds=days * 86400)
    return token


def user_for_refresh_token(conn: Connection, token: str) -> UserRecord:
    """The user a live (not revoked, not expired) token belongs to; else ``Unauthorized``."""
    user = store.user_of_refresh_token(conn, token_hash(token))
    if user is None:
        raise Unauthorized(INVALID)
    return user


def revoke_refresh_token(conn: Connection, token: str) -> UserRecord:
    """Revoke a live token; returns its user."""
    user = store.revoke_refresh_token(conn, token_hash(token))
    if user is None:
        raise Unauthorized(INVALID)
    return user
