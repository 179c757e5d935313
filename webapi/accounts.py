"""Users and pre-approved emails: the one place that creates, changes and deletes accounts.

Used by the routes and by the ``shoal users`` command alike. Every function works on
the caller's connection (one transaction) and writes the audit log there; the
statements are ``webapi/store/accounts.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from shared.enums import AuditAction, UserRole
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from webapi import audit
from webapi.auth.principal_cache import announce
from webapi.passwords import Passwords
from webapi.store import accounts as store
from webapi.store import auth as credentials
from webapi.store.records import PreApprovalRecord, UserRecord

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
ROLES = tuple(role.value for role in UserRole)
# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


MACHINE_ROLES = frozenset({UserRole.WORKER.value, UserRole.MANAGER.value})


class UserExists(InvalidInput):
    """User already exists"""


class SystemAccount(Conflict):
    """This is a system account (the platform runs as it) and cannot be deleted."""


@dataclass(frozen=True)
class NewAccount:
    """What an admin may set when creating a user, beside email, password and roles.

    ``system`` None: a system account exactly when every role is a machine's.
    """

    weight: int = 1
    max_pending: int | None = None
    max_running: int | None = None
    system: bool | None = None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The normalised email; ``InvalidInput`` when it does not look like one."""
    normalized = normalize_email(email)
    if len(normalized) > 320 or not _EMAIL.match(normalized):
        raise InvalidInput("Invalid email address.", errors={"email": ["Not a valid email."]})
    return normalized


def check_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        reason = f"Must be between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters."
        raise InvalidInput(f"Invalid {field}: {reason}", errors={field: [reason]})


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, deduplicated and sorted; ``InvalidInput`` for an unknown or empty list."""
    unique = sorted(set(roles))
    unknown = [role for role in unique if role not in ROLES]
    if unknown or not unique:
        reason = f"Roles must be a non-empty list of {', '.join(ROLES)}."
        raise InvalidInput(reason, errors={"roles": [reason]})
    return unique


def find_by_email(conn: Connection, email: str) -> UserRecord | None:
    return store.user_by_email(conn, normalize_email(email))


def get_user(conn: Connection, user_id: int, *, lock: bool = False) -> UserRecord:
    user = store.user_by_id(conn, user_id, lock=lock)
    if user is None:
        raise NotFound("User not found.")
    return user


def list_users(conn: Connection) -> list[UserRecord]:
    return store.users(conn)


def create_user(
    conn: Connection,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    roles: Iterable[str],
    actor_id: int | None = None,
    action: AuditAction = AuditAction.USER_CREATED,
    settings: NewAccount = NewAccount(),
) -> UserRecord:
    """A new account; ``UserExists`` (400) if the email is taken.

    The password is hashed before the email is looked up, so a taken email costs as
    much as a new one (registration must not tell them apart by time).
    """
    email = check_email(email)
    check_password(password)
    checked_roles = check_roles(roles)
    password_hash = passwords.hash(password)
    if store.user_by_email(conn, email) is not None:
        raise UserExists()
    system = settings.system
    if system is None:
        system = set(checked_roles) <= MACHINE_ROLES
    user = store.insert_user(
        conn,
        email=email,
        password_hash=password_hash,
        roles=checked_roles,
        weight=settings.weight,
        max_pending=settings.max_pending,
        max_running=settings.max_running,
        system=system,
    )
    if user is None:
        # Another request registered the same email between the check and the insert.
        raise UserExists()
    audit.record(
        conn,
        action,
        user_id=user.id,
        actor_id=actor_id,
        roles=checked_roles,
        system=user.system,
        **quota_of(user),
    )
    return user


def register(
    conn: Connection,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    require_approval: bool = False,
) -> UserRecord:
    """Self-registration: DEFAULT, or the roles the email was pre-approved with.

    With ``require_approval`` an email without an unused pre-approval gets 403.
    """
    email = check_email(email)
    approval = store.pre_approval_by_email(conn, email, unused_locked=True)
    if approval is None and require_approval:
        raise Forbidden("Registration needs a pre-approval of this email; ask an admin.")
    roles = approval.roles if approval is not None else [UserRole.DEFAULT.value]
    user = create_user(
        conn,
        passwords,
        email=email,
        password=password,
        roles=roles,
        action=AuditAction.REGISTER,
    )
    if approval is not None:
        store.use_pre_approval(conn, approval.id)
    return user


def set_roles(conn: Connection, user_id: int, roles: Iterable[str], *, actor_id: int) -> UserRecord:
    checked = check_roles(roles)
    user = get_user(conn, user_id)
    if user.id == actor_id and UserRole.ADMIN.value not in checked:
        raise InvalidInput("You cannot remove your own ADMIN role.")
    changed = store.set_roles(conn, user.id, checked)
    if changed is None:  # deleted meanwhile
        raise NotFound("User not found.")
    announce(conn, "user", user.id)
    audit.record(
        conn,
        AuditAction.ROLES_CHANGED,
        user_id=user.id,
        actor_id=actor_id,
        before=sorted(user.roles),
        after=checked,
    )
    return changed


def set_quota(
    conn: Connection,
    user_id: int,
    *,
    weight: int,
    max_pending: int | None,
    max_running: int | None,
    actor_id: int,
) -> UserRecord:
    """Set a user's fair-share weight and limits; the claim sees them at once."""
    user = get_user(conn, user_id)
    changed = store.set_quota(
        conn, user_id, weight=weight, max_pending=max_pending, max_running=max_running
    )
    if changed is None:  # deleted meanwhile
        raise NotFound("User not found.")
    audit.record(
        conn,
        AuditAction.QUOTA_CHANGED,
        user_id=user.id,
        actor_id=actor_id,
        before=quota_of(user),
        after=quota_of(changed),
    )
    return changed


def quota_of(user: UserRecord) -> dict[str, int | None]:
    return {"weight": user.weight, "maxPending": user.max_pending, "maxRunning": user.max_running}


def delete_user(conn: Connection, user_id: int, *, actor_id: int) -> None:
    if user_id == actor_id:
        raise InvalidInput("You cannot delete your own account.")
    user = get_user(conn, user_id)
    if user.system:
        raise SystemAccount(
            f"{user.email} is a system account (the platform runs as it) and cannot be "
            "deleted; revoke its API keys or change its roles instead."
        )
    # The log keeps the id and email: user_id is set to NULL when the row goes.
    audit.record(
        conn,
        AuditAction.USER_DELETED,
        user_id=user.id,
        actor_id=actor_id,
        deleted_user_id=user.id,
        email=user.email,
    )
    store.delete_user(conn, user.id)
    announce(conn, "user", user.id)


def change_password(
    conn: Connection, passwords: Passwords, user: UserRecord, new_password: str
) -> None:
    """Set a new password and revoke every refresh token of the user."""
    check_password(new_password, "newPassword")
    store.set_password(conn, user.id, passwords.hash(new_password))
    credentials.revoke_refresh_tokens_of(conn, user.id)
    audit.record(conn, AuditAction.CHANGE_PASSWORD, user_id=user.id, actor_id=user.id)


def pre_approve(
    conn: Connection, *, email: str, roles: Iterable[str], actor_id: int | None
) -> PreApprovalRecord:
    email = check_email(email)
    checked = check_roles(roles)
    if store.user_by_email(conn, email) is not None:
        raise InvalidInput("User already exists; change their roles instead.")
    approval = store.insert_pre_approval(conn, email=email, roles=checked)
    if approval is None:
        raise InvalidInput("Email is already pre-approved.")
    audit.record(conn, AuditAction.PRE_APPROVED, actor_id=actor_id, email=email, roles=checked)
    return approval


def list_pre_approved(conn: Connection) -> list[PreApprovalRecord]:
    return store.pre_approvals(conn)


def delete_pre_approved(conn: Connection, approval_id: int, *, actor_id: int | None) -> None:
    email = store.delete_pre_approval(conn, approval_id)
    if email is None:
        raise NotFound("Pre-approval not found.")
    audit.record(conn, AuditAction.PRE_APPROVAL_WITHDRAWN, actor_id=actor_id, email=email)


def first_admin(conn: Connection) -> UserRecord | None:
    """The oldest ADMIN, the default owner of keys created from the command line."""
    return store.first_admin(conn)
