"""Refresh tokens: random opaque strings, stored as a SHA-256 hash with an expiry.

They are not rotated on use (the contract's ``POST /token`` answers only ``{token}``):
a token stays valid until it expires, is logged out, or its user changes password.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import Unauthorized
from webapi.store.models import RefreshToken, User

INVALID = "Invalid refresh token"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(session: Session, user_id: int, *, days: int) -> str:
    token = secrets.token_urlsafe(48)
    session.add(
        RefreshToken(
            user_id=user_id,
            token_hash=_hash(token),
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
    )
    return token


def _live(session: Session, token: str, *, lock: bool = False) -> tuple[RefreshToken, User]:
    statement = (
        select(RefreshToken, User)
        .join(User, User.id == RefreshToken.user_id)
        .where(
            RefreshToken.token_hash == _hash(token),
            RefreshToken.revoked.is_(False),
            RefreshToken.expires_at > datetime.now(UTC),
        )
    )
    found = session.execute(statement.with_for_update() if lock else statement).one_or_none()
    if found is None:
        raise Unauthorized(INVALID)
    refresh, user = found
    return refresh, user


def user_for_refresh_token(session: Session, token: str) -> User:
    """The user a live (not revoked, not expired) token belongs to; else ``Unauthorized``."""
    return _live(session, token)[1]


def revoke_refresh_token(session: Session, token: str) -> User:
    """Revoke a live token; returns its user."""
    refresh, user = _live(session, token, lock=True)
    refresh.revoked = True
    return user
