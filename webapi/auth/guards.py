"""Role guards for views: ``@require_roles(...)`` and ``@authenticated``.

A guard authenticates the request (a bearer JWT or an ``X-API-Key`` header; 401 when
missing, bad, expired or revoked), then checks the caller's roles (403); ADMIN always
passes. The view then reads the caller with ``current_principal()``. Guards also
document the security schemes and the 401/403 answers in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import ExpiredSignatureError, PyJWTError

from shared.enums import UserRole
from shared.errors import Forbidden, Unauthorized
from webapi.auth.principal import Principal
from webapi.auth.principals import INVALID_TOKEN, principal_for_key, principal_for_user
from webapi.blueprint import SECURITY, document

F = TypeVar("F", bound=Callable[..., Any])

API_KEY_HEADER = "X-API-Key"
# The roles of people; a caller that is only a WORKER may not use the user routes.
USER_ROLES = (UserRole.ANALYST.value, UserRole.DEFAULT.value)
_PRINCIPAL = "shoal_principal"


def require_roles(*roles: str) -> Callable[[F], F]:
    """Allow callers holding one of ``roles`` (ADMIN always passes)."""
    allowed = frozenset(roles)
    unknown = allowed - {role.value for role in UserRole}
    if unknown or not allowed:
        raise ValueError(f"require_roles needs known roles, got {sorted(roles)}")

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _check_roles(current_principal(), allowed)
            return view(*args, **kwargs)

        return document(cast(F, guarded), codes=(401, 403), security=SECURITY)

    return decorator


def authenticated(view: F) -> F:
    """Allow any authenticated caller, whatever its roles."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        current_principal()
        return view(*args, **kwargs)

    return document(cast(F, guarded), codes=(401,), security=SECURITY)


def reauthenticate(*roles: str) -> Principal:
    """Authenticate the caller again and check ``roles`` again.

    For a request that waits: its credential may be revoked (or its user deleted,
    its roles changed) meanwhile, and must not act after that. The principal cache
    has forgotten such a credential by the time the change's own NOTIFY arrives.
    """
    g.pop(_PRINCIPAL, None)
    principal = current_principal()
    _check_roles(principal, frozenset(roles))
    return principal


def _check_roles(principal: Principal, allowed: frozenset[str]) -> None:
    if not principal.has_any(allowed):
        raise Forbidden(f"This route needs one of the roles {', '.join(sorted(allowed))}.")


def current_principal() -> Principal:
    """The caller of the current request, authenticated once and kept for the request."""
    principal: Principal | None = g.get(_PRINCIPAL)
    if principal is None:
        principal = _authenticate()
        setattr(g, _PRINCIPAL, principal)
    return principal


def _authenticate() -> Principal:
    key = request.headers.get(API_KEY_HEADER)
    if key is not None:
        return principal_for_key(key)
    if not request.headers.get("Authorization"):
        raise Unauthorized("Authentication required: send a Bearer token or an X-API-Key header.")
    try:
        verify_jwt_in_request()
        claims = get_jwt()
        user_id = int(claims["sub"])
    except ExpiredSignatureError:
        raise Unauthorized("Token has expired.") from None
    except (JWTExtendedException, PyJWTError, KeyError, TypeError, ValueError):
        raise Unauthorized(INVALID_TOKEN) from None
    # Roles are the user's current ones, not the token's: a change counts at once.
    return principal_for_user(user_id)
