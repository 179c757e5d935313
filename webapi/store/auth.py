"""Credentials in the database: API keys, refresh tokens and browser sessions, the
login throttles' counts, the login forms' spent nonces, and the announcement of a
narrowed credential.

Each function runs on the caller's connection, in the caller's transaction; the
rules (hashing, roles, delays) are ``webapi/auth``'s.
"""

from __future__ import annotations

from sqlalchemy import Connection

from webapi.store.prepared import text
from webapi.store.records import ApiKeyRecord, UserRecord
from webapi.store.sql import auth as sql
from webapi.store.sql.fragments import NOTIFY


def insert_api_key(
    conn: Connection, *, name: str, key_hash: str, prefix: str, roles: list[str], user_id: int
) -> ApiKeyRecord:
    params = {
        "name": name,
        "key_hash": key_hash,
        "prefix": prefix,
        "roles": roles,
        "user_id": user_id,
    }
    return ApiKeyRecord.from_row(conn.execute(text(sql.INSERT_API_KEY), params).mappings().one())


def live_api_keys(conn: Connection, user_id: int | None = None) -> list[ApiKeyRecord]:
    """Every key not revoked, oldest first."""
    return ApiKeyRecord.all_of(conn.execute(text(sql.LIVE_API_KEYS), {"user_id": user_id}))


def revoke_api_key(conn: Connection, key_id: int, user_id: int | None) -> ApiKeyRecord | None:
    """The key, now revoked; None when there is no live key ``key_id``."""
    params = {"key_id": key_id, "user_id": user_id}
    return ApiKeyRecord.first_of(conn.execute(text(sql.REVOKE_API_KEY), params))


def load_api_key(
    conn: Connection, key_hash: str, *, resolution_seconds: float
) -> tuple[int, int, list[str]] | None:
    """The live key with this hash as (key id, its owner's user id, its roles), its use
    noted at most once per ``resolution_seconds``; None when there is none."""
    params = {"key_hash": key_hash, "resolution": resolution_seconds}
    row = conn.execute(text(sql.LOAD_API_KEY), params).first()
    return None if row is None else (row.id, row.user_id, row.roles)


def insert_refresh_token(
    conn: Connection, user_id: int, token_hash: str, *, seconds: float
) -> None:
    params = {"user_id": user_id, "token_hash": token_hash, "seconds": seconds}
    conn.execute(text(sql.INSERT_REFRESH_TOKEN), params)


def user_of_refresh_token(conn: Connection, token_hash: str) -> UserRecord | None:
    """The user of a live (not revoked, not expired) token; else None."""
    params = {"token_hash": token_hash}
    return UserRecord.first_of(conn.execute(text(sql.USER_OF_REFRESH_TOKEN), params))


def revoke_refresh_token(conn: Connection, token_hash: str) -> UserRecord | None:
    """Revoke a live token; its user, or None when it was not live."""
    params = {"token_hash": token_hash}
    return UserRecord.first_of(conn.execute(text(sql.REVOKE_REFRESH_TOKEN), params))


def revoke_refresh_tokens_of(conn: Connection, user_id: int) -> None:
    conn.execute(text(sql.REVOKE_REFRESH_TOKENS_OF_USER), {"user_id": user_id})


def set_refresh_token_lifetime(conn: Connection, token_hash: str, *, seconds: float) -> None:
    """The token expires ``seconds`` from now."""
    params = {"token_hash": token_hash, "seconds": seconds}
    conn.execute(text(sql.SET_REFRESH_TOKEN_LIFETIME), params)


def count_attempt(
    conn: Connection,
    key: str,
    *,
    bound: int,
    window_seconds: float,
    first_delay: float,
    max_delay: float,
) -> bool:
    """Count an event on ``key``; False (nothing counted) when the key is held back."""
    params = {
        "key": key,
        "bound": bound,
        "window": window_seconds,
        "first_delay": first_delay,
        "max_delay": max_delay,
    }
    return conn.execute(text(sql.COUNT_ATTEMPT), params).first() is not None


def sweep_attempts(conn: Connection, kind: str, *, window_seconds: float) -> None:
    """Drop a few counts of keys of ``kind`` (``email``, ``ip``, ...) whose window ended."""
    params = {"kind": f"{kind}:%", "window": window_seconds}
    conn.execute(text(sql.SWEEP_ATTEMPTS), params)


def held_for(conn: Connection, keys: list[str]) -> float | None:
    """Seconds until none of ``keys`` is held back; None when none is."""
    held = conn.execute(text(sql.HELD_FOR), {"keys": keys}).scalar_one()
    return None if held is None else float(held)


def clear_attempts(conn: Connection, key: str) -> None:
    conn.execute(text(sql.CLEAR_ATTEMPTS), {"key": key})


def uncount_attempt(conn: Connection, key: str) -> None:
    """Take back one count of ``key`` and the hold it may have started."""
    conn.execute(text(sql.UNCOUNT_ATTEMPT), {"key": key})


def spend_nonce(conn: Connection, key: str) -> bool:
    """Write ``key`` unless it is there: True the first time, False ever after."""
    return conn.execute(text(sql.SPEND_NONCE), {"key": key}).first() is not None


def announce(conn: Connection, channel: str, payload: str) -> None:
    """Notify ``payload`` on ``channel`` when the caller's transaction commits."""
    conn.execute(text(NOTIFY), {"channel": channel, "payload": payload})
