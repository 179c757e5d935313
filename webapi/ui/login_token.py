"""The login form's token: issued by this server, good for ten minutes, taken once.

A login form carries a token that must also be the value of a SameSite=Strict cookie
set with the form (no other site can read it into its own form). That alone is a
double submit: a cookie planted by a sibling subdomain with any value passed it. So
the token is also signed with a key only the web API has (derived from the JWT
signing key, so every process and instance agrees), carries its expiry, and is
spent by the first login that presents it: its nonce is written to
``login_attempts`` under ``login-form:<nonce>`` in one statement, so a replay, even
concurrent, finds it there. Spent nonces are swept once their tokens have expired.
A token fetched by an attacker for their own browser still passes these checks, so
``cross_site`` refuses forms a browser says it posts from another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Request
from sqlalchemy import Connection

from webapi.store import auth as credentials

LIFETIME_SECONDS = 600
KIND = "login-form"  # spent nonces are ``login-form:<nonce>`` in login_attempts
_SAME_SITE_AS_ITSELF = ("same-origin", "none")  # "none": typed, bookmarked, reloaded


def signing_key(jwt_private_key: str) -> bytes:
    return hashlib.sha256(b"shoal login form\0" + jwt_private_key.encode()).digest()


def issue(key: bytes, now: float) -> str:
    """A fresh token: ``<nonce>.<expires>.<signature>``."""
    body = f"{secrets.token_urlsafe(18)}.{int(now) + LIFETIME_SECONDS}"
    return f"{body}.{_sign(key, body)}"


def spend(conn: Connection, key: bytes, token: str, now: float) -> bool:
    """True the first time a token we issued is presented before it expires."""
    nonce, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    if not hmac.compare_digest(signature.encode(), _sign(key, f"{nonce}.{expires}").encode()):
        return False
    if not expires.isdigit() or int(expires) < now:
        return False
    # A spent nonce matters only while its token could still be presented.
    credentials.sweep_attempts(conn, KIND, window_seconds=LIFETIME_SECONDS)
    return credentials.spend_nonce(conn, f"{KIND}:{nonce}")


def cross_site(request: Request) -> bool:
    """Whether the browser says this request comes from another site (a sibling
    subdomain included): ``Sec-Fetch-Site``, or ``Origin`` where that is not sent."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in _SAME_SITE_AS_ITSELF
    origin = request.headers.get("Origin")
    return origin is not None and origin != request.host_url.rstrip("/")


def _sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
