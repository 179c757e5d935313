"""Users and pre-approved emails: the one place that creates, changes and deletes accounts.

Used by the routes and by the ``shoal users`` command alike. Every function works in
the caller's session (one transaction) and writes the audit log there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.enums import AuditAction, UserRole
from shared.errors import Forbidden, InvalidInput, NotFound
from webapi import audit
from webapi.auth.principal_cache import announce
from webapi.passwords import Passwords
from webapi.store import limits
from webapi.store.models import PreApprovedUser, RefreshToken, User

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
ROLES = tuple(role.value for role in UserRole)
# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserExists(InvalidInput):
    """User already exists"""


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


def find_by_email(session: Session, email: str) -> User | None:
    statement = select(User).where(func.lower(User.email) == normalize_email(email))
    return session.scalars(statement).one_or_none()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def create_user(
    session: Session,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    roles: Iterable[str],
    actor_id: int | None = None,
    action: AuditAction = AuditAction.USER_CREATED,
) -> User:
    """A new account; ``UserExists`` (400) if the email is taken.

    The password is hashed before the email is looked up, so a taken email costs as
    much as a new one (registration must not tell them apart by time).
    """
    email = check_email(email)
    check_password(password)
    checked_roles = check_roles(roles)
    password_hash = passwords.hash(password)
    if find_by_email(session, email) is not None:
        raise UserExists()
    user = User(email=email, password_hash=password_hash, roles=checked_roles)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Another request registered the same email between the check and the insert.
        raise UserExists() from None
    session.refresh(user)
    audit.record(session, action, user_id=user.id, actor_id=actor_id, roles=checked_roles)
    return user


def register(
    session: Session,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    require_approval: bool = False,
) -> User:
    """Self-registration: DEFAULT, or the roles the email was pre-approved with.

    With ``require_approval`` an email without an unused pre-approval gets 403.
    """
    email = check_email(email)
    approval = session.scalars(
        select(PreApprovedUser)
        .where(func.lower(PreApprovedUser.email) == email, PreApprovedUser.used.is_(False))
        .with_for_update()
    ).one_or_none()
    if approval is None and require_approval:
        raise Forbidden("Registration needs a pre-approval of this email; ask an admin.")
    roles = approval.roles if approval is not None else [UserRole.DEFAULT.value]
    user = create_user(
        session,
        passwords,
        email=email,
        password=password,
        roles=roles,
        action=AuditAction.REGISTER,
    )
    if approval is not None:
        approval.used = True
    return user


def set_roles(session: Session, user_id: int, roles: Iterable[str], *, actor_id: int) -> User:
    checked = check_roles(roles)
    user = get_user(session, user_id)
    if user.id == actor_id and UserRole.ADMIN.value not in checked:
        raise InvalidInput("You cannot remove your own ADMIN role.")
    before = sorted(user.roles)
    user.roles = checked
    announce(session, "user", user.id)
    user.updated_at = datetime.now(UTC)
    audit.record(
        session,
        AuditAction.ROLES_CHANGED,
        user_id=user.id,
        actor_id=actor_id,
        before=before,
        after=checked,
    )
    return user


def set_quota(
    session: Session,
    user_id: int,
    *,
    weight: int,
    max_pending: int | None,
    max_running: int | None,
    actor_id: int,
) -> User:
    """Set a user's fair-share weight and limits; the claim sees them at once."""
    user = get_user(session, user_id)
    before = quota_of(user)
    limits.set_quota(
        session.connection(),
        user_id,
        weight=weight,
        max_pending=max_pending,
        max_running=max_running,
    )
    session.refresh(user)
    audit.record(
        session,
        AuditAction.QUOTA_CHANGED,
        user_id=user.id,
        actor_id=actor_id,
        before=before,
        after=quota_of(user),
    )
    return user


def quota_of(user: User) -> dict[str, int | None]:
    return {"weight": user.weight, "maxPending": user.max_pending, "maxRunning": user.max_running}


def delete_user(session: Session, user_id: int, *, actor_id: int) -> None:
    if user_id == actor_id:
        raise InvalidInput("You cannot delete your own account.")
    user = get_user(session, user_id)
    # The log keeps the id and email: user_id is set to NULL when the row goes.
    audit.record(
        session,
        AuditAction.USER_DELETED,
        user_id=user.id,
        actor_id=actor_id,
        deleted_user_id=user.id,
        email=user.email,
    )
    session.flush()
    session.delete(user)
    announce(session, "user", user.id)


def change_password(session: Session, passwords: Passwords, user: User, new_password: str) -> None:
    """Set a new password and revoke every refresh token of the user."""
    check_password(new_password, "newPassword")
    user.password_hash = passwords.hash(new_password)
    user.updated_at = datetime.now(UTC)
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked.is_(False))
        .values(revoked=True)
    )
    audit.record(session, AuditAction.CHANGE_PASSWORD, user_id=user.id, actor_id=user.id)


def pre_approve(
    session: Session, *, email: str, roles: Iterable[str], actor_id: int | None
) -> PreApprovedUser:
    email = check_email(email)
    checked = check_roles(roles)
    if find_by_email(session, email) is not None:
        raise InvalidInput("User already exists; change their roles instead.")
    existing = session.scalars(
        select(PreApprovedUser).where(func.lower(PreApprovedUser.email) == email)
    ).one_or_none()
    if existing is not None:
        raise InvalidInput("Email is already pre-approved.")
    approval = PreApprovedUser(email=email, roles=checked)
    session.add(approval)
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput("Email is already pre-approved.") from None
    session.refresh(approval)
    return approval


def list_pre_approved(session: Session) -> Sequence[PreApprovedUser]:
    return session.scalars(select(PreApprovedUser).order_by(PreApprovedUser.id)).all()


def delete_pre_approved(session: Session, approval_id: int) -> None:
    result = session.execute(delete(PreApprovedUser).where(PreApprovedUser.id == approval_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("Pre-approval not found.")


def first_admin(session: Session) -> User | None:
    """The oldest ADMIN, the default owner of keys created from the command line."""
    statement = (
        select(User).where(User.roles.any_() == UserRole.ADMIN.value).order_by(User.id).limit(1)
    )
    return session.scalars(statement).one_or_none()
