"""Self-registration: the mode (``SHOAL_REGISTRATION``) and the limit per client address.

An email that already has an account is answered exactly as a new one, after the same
work (the password is hashed either way), so registering never tells whether an
email has an account; only a login with the password just sent can.
"""

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
REGISTERED = (
    "Registered: if this email had no account, it has one now and you can log in with "
    "this password."
)


def register(svc: Services, *, email: str, password: str, address: str) -> None:
    """Register, or nothing when the email has an account (nothing tells which); 403
    when the mode refuses the email, 429 past the address's limit.

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
    try:
        with svc.transaction() as conn:
            user = accounts.register(
                conn,
                svc.passwords,
                email=email,
                password=password,
                require_approval=settings.registration is RegistrationMode.PRE_APPROVED_ONLY,
            )
            user_id = user.id
    except accounts.UserExists:
        log.info(
            "registration for an email that has an account", extra={"action": "auth.register_taken"}
        )
        return
    log.info("registered", extra={"action": "auth.register", "user_id": user_id})
