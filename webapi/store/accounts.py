"""Accounts in the database: users, pre-approved emails, quotas and the audit log.

Each function runs its statements on the caller's connection, in the caller's
transaction; the rules (who may do what, what a valid email is) are
``webapi/accounts.py``'s.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from webapi.store.prepared import text
from webapi.store.records import PreApprovalRecord, UserRecord
from webapi.store.sql import accounts as sql


def user_by_id(conn: Connection, user_id: int, *, lock: bool = False) -> UserRecord | None:
    """The user, locked until the transaction ends with ``lock``."""
    statement = sql.LOCK_USER if lock else sql.USER_BY_ID
    return UserRecord.first_of(conn.execute(text(statement), {"user_id": user_id}))


def user_by_email(conn: Connection, email: str) -> UserRecord | None:
    """The user with this (normalised, lower-case) email."""
    return UserRecord.first_of(conn.execute(text(sql.USER_BY_EMAIL), {"email": email}))


def users(conn: Connection) -> list[UserRecord]:
    return UserRecord.all_of(conn.execute(text(sql.USERS)))


def first_admin(conn: Connection) -> UserRecord | None:
    return UserRecord.first_of(conn.execute(text(sql.FIRST_ADMIN)))


def insert_user(
    conn: Connection,
    *,
    email: str,
    password_hash: str,
    roles: list[str],
    weight: int = 1,
    max_pending: int | None = None,
    max_running: int | None = None,
    system: bool = False,
) -> UserRecord | None:
    """The new user; None when the email is taken (a concurrent insert included)."""
    params = {
        "email": email,
        "password_hash": password_hash,
        "roles": roles,
        "weight": weight,
        "max_pending": max_pending,
        "max_running": max_running,
        "system": system,
    }
    return UserRecord.first_of(conn.execute(text(sql.INSERT_USER), params))


def set_roles(conn: Connection, user_id: int, roles: list[str]) -> UserRecord | None:
    return UserRecord.first_of(
        conn.execute(text(sql.SET_ROLES), {"user_id": user_id, "roles": roles})
    )


def set_password(
    conn: Connection, user_id: int, password_hash: str, *, rehash: bool = False
) -> None:
    """A new password, or (``rehash``) the same one hashed with today's parameters."""
    statement = sql.REHASH_PASSWORD if rehash else sql.SET_PASSWORD
    conn.execute(text(statement), {"user_id": user_id, "password_hash": password_hash})


def delete_user(conn: Connection, user_id: int) -> None:
    conn.execute(text(sql.DELETE_USER), {"user_id": user_id})


def set_quota(
    conn: Connection,
    user_id: int,
    *,
    weight: int,
    max_pending: int | None,
    max_running: int | None,
) -> UserRecord | None:
    """Set a user's fair-share weight and limits; the user, or None when there is none.

    The claim reads weight and max running from the user's ``job_loads`` rows, so
    they change with the user's row, in the caller's transaction.
    """
    params = {
        "user_id": user_id,
        "weight": weight,
        "max_pending": max_pending,
        "max_running": max_running,
    }
    user = UserRecord.first_of(conn.execute(text(sql.SET_QUOTA), params))
    if user is not None:
        conn.execute(text(sql.SET_LOAD_QUOTA), params)
    return user


def pre_approval_by_email(
    conn: Connection, email: str, *, unused_locked: bool = False
) -> PreApprovalRecord | None:
    """The email's pre-approval; with ``unused_locked`` only an unused one, locked."""
    statement = sql.LOCK_UNUSED_PRE_APPROVAL if unused_locked else sql.PRE_APPROVAL_BY_EMAIL
    return PreApprovalRecord.first_of(conn.execute(text(statement), {"email": email}))


def use_pre_approval(conn: Connection, approval_id: int) -> None:
    conn.execute(text(sql.USE_PRE_APPROVAL), {"approval_id": approval_id})


def insert_pre_approval(
    conn: Connection, *, email: str, roles: list[str]
) -> PreApprovalRecord | None:
    """The new pre-approval; None when the email already has one."""
    return PreApprovalRecord.first_of(
        conn.execute(text(sql.INSERT_PRE_APPROVAL), {"email": email, "roles": roles})
    )


def pre_approvals(conn: Connection) -> list[PreApprovalRecord]:
    return PreApprovalRecord.all_of(conn.execute(text(sql.PRE_APPROVALS)))


def delete_pre_approval(conn: Connection, approval_id: int) -> str | None:
    """The withdrawn pre-approval's email; None when there was none."""
    found = conn.execute(text(sql.DELETE_PRE_APPROVAL), {"approval_id": approval_id})
    email: str | None = found.scalar_one_or_none()
    return email


def add_audit_entry(
    conn: Connection,
    action: str,
    *,
    user_id: int | None,
    actor_id: int | None,
    metadata: dict[str, Any],
) -> None:
    params = {
        "action": action,
        "user_id": user_id,
        "actor_id": actor_id,
        "metadata": json.dumps(metadata),
    }
    conn.execute(text(sql.ADD_AUDIT_ENTRY), params)
