"""Self-registration: the mode (``SHOAL_REGISTRATION``) and the limit per client address."""

from __future__ import annotations

import logging

from shared.errors import Forbidden
from webapi import accounts
from webapi.auth.login_limits import Throttle
from webapi.services import Services
from webapi.settings import RegistrationMode

log = logging.getLogger(__name__)
CLOSED = "Registration is closed; ask an admin for an account."
TOO_MANY = "Too many registrations from this address; try again later."


def register(svc: Services, *, email: str, password: str, address: str) -> int:
    """The new account's id; 403 when the mode refuses it, 429 past the address's limit.

    Every attempt from an address counts, failed ones too, so the limit also bounds
    probing which emails have accounts.
    """
    settings = svc.settings
    if settings.registration is RegistrationMode.CLOSED:
        raise Forbidden(CLOSED)
    key = f"register:{address}"
    # The window passes before an address may register again past its bound.
    throttle = Throttle(
        bound=settings.registrations_per_address,
        window_seconds=settings.registration_window_seconds,
        first_delay=settings.registration_window_seconds,
        max_delay=settings.registration_window_seconds,
    )
    with svc.transaction() as conn:  # counted in its own transaction: a failure counts too
        throttle.admit(conn, key, TOO_MANY)
    with svc.transaction() as conn:
        user = accounts.register(
            conn,
            svc.passwords,
            email=email,
            password=password,
            require_approval=settings.registration is RegistrationMode.PRE_APPROVED_ONLY,
        )
        user_id = user.id
    log.info("registered", extra={"action": "auth.register", "user_id": user_id})
    return user_id
