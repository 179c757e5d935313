"""Logging in: password check, failed-login limits, tokens, audit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.enums import AuditAction
from shared.errors import Unauthorized
from webapi import audit
from webapi.accounts import find_by_email, normalize_email
from webapi.auth.login_limits import LoginLimits, Throttle
from webapi.auth.refresh_tokens import issue_refresh_token
from webapi.auth.tokens import issue_access_token
from webapi.services import Services
from webapi.store.accounts import set_password

log = logging.getLogger(__name__)
INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True)
class Tokens:
    token: str
    refresh_token: str


def limits_for(svc: Services) -> LoginLimits:
    settings = svc.settings

    def throttle(bound: int) -> Throttle:
        return Throttle(
            bound=bound,
            window_seconds=settings.login_window_seconds,
            first_delay=settings.login_delay_seconds,
            max_delay=settings.login_max_delay_seconds,
        )

    return LoginLimits(
        per_account=throttle(settings.login_max_failures),
        per_address=throttle(settings.login_max_failures_per_address),
    )


def login(svc: Services, *, email: str, password: str, address: str) -> Tokens:
    """Tokens for valid credentials; 401 for any bad ones (known email or not), 429 while
    the account or the address is held back after too many failures."""
    email = normalize_email(email)
    limits = limits_for(svc)
    with svc.transaction() as conn:
        limits.admit(conn, email, address)  # counted as a failure until it succeeds
        user = find_by_email(conn, email)
        user_id, password_hash = (user.id, user.password_hash) if user else (None, None)
    # Hash outside the transaction: no connection is held for the ~50 ms it takes.
    if not svc.passwords.verify(password_hash, password):
        with svc.transaction() as conn:
            audit.record(
                conn, AuditAction.LOGIN_FAILED, user_id=user_id, email=email, address=address
            )
        log.info("login failed", extra={"action": "auth.login_failed", "user_id": user_id})
        raise Unauthorized(INVALID_CREDENTIALS)
    assert user is not None and password_hash is not None
    with svc.transaction() as conn:
        limits.succeeded(conn, email, address)
        if svc.passwords.needs_rehash(password_hash):
            set_password(conn, user.id, svc.passwords.hash(password), rehash=True)
        refresh = issue_refresh_token(conn, user.id, days=svc.settings.refresh_token_days)
        audit.record(conn, AuditAction.LOGIN, user_id=user.id, address=address)
    log.info("login", extra={"action": "auth.login", "user_id": user.id})
    return Tokens(issue_access_token(user.id, user.email, user.roles), refresh)
