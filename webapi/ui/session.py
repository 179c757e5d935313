"""Browser sessions: an httpOnly cookie holding a JWT bound to a revocable server row.

Logging in goes through the API's own login (limits, audit, password rehash); its
refresh-token row becomes the session's server side, cut to the session's length,
and the cookie's JWT names that row by hash. Every page request checks the row, so
logout (which revokes it) and a password change (which revokes them all) end the
session at once. The JWT's subject is not a user id, so the REST API refuses the
cookie's token as a bearer token. State-changing requests must carry the token's
CSRF value (a form field or the ``X-CSRF-TOKEN`` header; flask-jwt-extended checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, g
from flask_jwt_extended import (
    create_access_token,
    get_jwt,
    set_access_cookies,
    unset_access_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import CSRFError, JWTExtendedException
from jwt import ExpiredSignatureError, PyJWTError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from shared.enums import AuditAction
from shared.errors import Forbidden, Unauthorized
from webapi import audit
from webapi.auth.login import login
from webapi.auth.principal import Principal
from webapi.auth.refresh_tokens import token_hash
from webapi.services import Services, services
from webapi.store import auth as store

COOKIE = "shoal_session"
SUBJECT_PREFIX = "browser-session:"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-TOKEN"
CSRF_REFUSED = (
    "This request was refused: it did not carry the page's CSRF token. "
    "Reload the page and try again."
)
_CACHE = "shoal_browser_session"


class SessionExpired(Unauthorized):
    """Your session has expired; please log in again."""


@dataclass(frozen=True)
class BrowserSession:
    principal: Principal
    csrf: str


def configure_cookies(app: Flask, svc: Services) -> None:
    """flask-jwt-extended's cookie settings; bearer tokens on ``/api`` are unaffected."""
    app.config.update(
        JWT_ACCESS_COOKIE_NAME=COOKIE,
        JWT_ACCESS_COOKIE_PATH="/",
        JWT_COOKIE_SAMESITE="Lax",
        JWT_COOKIE_SECURE=svc.settings.ui.secure_cookies,
        JWT_COOKIE_CSRF_PROTECT=True,
        # The CSRF value is written into each page; no script-readable cookie is needed.
        JWT_CSRF_IN_COOKIES=False,
        JWT_CSRF_CHECK_FORM=True,
        JWT_ACCESS_CSRF_FIELD_NAME=CSRF_FIELD,
        JWT_ACCESS_CSRF_HEADER_NAME=CSRF_HEADER,
        JWT_SESSION_COOKIE=True,
    )


def open_session(response: Response, *, email: str, password: str, address: str) -> None:
    """Log in (401/429 as the API answers) and set the session cookie on ``response``."""
    svc = services()
    tokens = login(svc, email=email, password=password, address=address)
    digest = token_hash(tokens.refresh_token)
    lifetime = timedelta(seconds=svc.settings.ui.session_seconds)
    with svc.transaction() as conn:
        store.set_refresh_token_lifetime(conn, digest, seconds=lifetime.total_seconds())
    token = create_access_token(identity=SUBJECT_PREFIX + digest, expires_delta=lifetime)
    set_access_cookies(response, token)  # type: ignore[arg-type]  # any response will do


def close_session(response: Response) -> None:
    """Revoke the current session's row (if any) and clear the cookie."""
    unset_access_cookies(response)  # type: ignore[arg-type]
    try:
        browser = current_session()
    except Unauthorized:
        return
    digest = _subject_digest()
    with services().transaction() as conn:
        store.revoke_refresh_token(conn, digest)
        user_id = browser.principal.user_id
        audit.record(conn, AuditAction.LOGOUT, user_id=user_id, actor_id=user_id)


def current_session() -> BrowserSession:
    """The request's session; ``Unauthorized`` without a live one, ``Forbidden`` without CSRF."""
    found: BrowserSession | None = g.get(_CACHE)
    if found is None:
        found = _authenticate()
        setattr(g, _CACHE, found)
    return found


def reauthenticate() -> BrowserSession:
    """The session checked again (for a request that waits: it may have ended meanwhile)."""
    g.pop(_CACHE, None)
    return current_session()


def optional_session() -> BrowserSession | None:
    """The session if there is one. A request whose form cannot be read (too large)
    has none: its error page is drawn without it."""
    try:
        return current_session()
    except (Unauthorized, Forbidden, HTTPException):
        return None


def _authenticate() -> BrowserSession:
    try:
        verify_jwt_in_request(locations=["cookies"])
    except CSRFError:
        raise Forbidden(CSRF_REFUSED) from None
    except ExpiredSignatureError:
        raise SessionExpired() from None
    except (JWTExtendedException, PyJWTError):
        raise Unauthorized("Please log in.") from None
    with services().transaction() as conn:
        row = store.user_of_refresh_token(conn, _subject_digest())
    if row is None:
        raise SessionExpired()
    principal = Principal(user_id=row.id, email=row.email, roles=frozenset(row.roles))
    return BrowserSession(principal=principal, csrf=str(get_jwt().get("csrf", "")))


def _subject_digest() -> str:
    subject = str(get_jwt().get("sub", ""))
    if not subject.startswith(SUBJECT_PREFIX):
        raise Unauthorized("Please log in.")
    return subject.removeprefix(SUBJECT_PREFIX)
