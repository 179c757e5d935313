"""Throttles on guessing and sign-up (the ``login_attempts`` table): delays, never locks.

Each key (``email:<address>``, ``ip:<address>``, ``register:<address>``) counts
events in a window that starts at its first one. Past the key's free bound, each
further event holds the key back for a delay that doubles with every event, up to
a cap; while held back the key is answered 429 with ``Retry-After`` and nothing is
counted, so a caller who waits is heard again. A failed login can therefore never
lock the right password out for longer than the cap: it delays it.

A login attempt is counted before its password is checked, so guesses sent at once
are bounded too; a successful login then clears the account's key and takes its own
count back from the address's (never more, so one valid account cannot reset an
attacker's address).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection

from shared.errors import TooManyRequests
from webapi.store import auth as store

TOO_MANY_LOGINS = "Too many failed logins; try again later."


@dataclass(frozen=True)
class Throttle:
    """``bound`` free events per key and window, then doubling delays up to ``max_delay``."""

    bound: int
    window_seconds: int
    first_delay: float
    max_delay: float

    def count(self, conn: Connection, key: str) -> bool:
        """Count an event; False (nothing counted) when the key was already held back."""
        window = float(self.window_seconds)
        counted = store.count_attempt(
            conn,
            key,
            bound=self.bound,
            window_seconds=window,
            first_delay=self.first_delay,
            max_delay=self.max_delay,
        )
        store.sweep_attempts(conn, key.partition(":")[0], window_seconds=window)
        return counted

    def admit(self, conn: Connection, key: str, message: str) -> None:
        """Count an event that happens only if admitted: 429 when the key is held back.

        One statement decides, so concurrent callers never get past the bound together.
        """
        if not self.count(conn, key):
            raise TooManyRequests(message, retry_after=held_back(conn, [key]) or 1)


def held_back(conn: Connection, keys: list[str]) -> int | None:
    """Whole seconds until none of ``keys`` is held back; None when none is."""
    held = store.held_for(conn, keys)
    return None if held is None else max(1, math.ceil(held))


@dataclass(frozen=True)
class LoginLimits:
    per_account: Throttle
    per_address: Throttle

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        return f"email:{email}", f"ip:{address}"

    def admit(self, conn: Connection, email: str, address: str) -> None:
        """Count the attempt as a failure before its password is checked; 429 while the
        account or the address is held back (the caller's rollback then undoes the count).

        Counting first is what stops guesses sent at once: each one takes its place in
        the count before any is checked. A right password takes it back (``succeeded``).
        """
        account, client = self.keys(email, address)
        for throttle, key in ((self.per_account, account), (self.per_address, client)):
            if not throttle.count(conn, key):
                raise TooManyRequests(TOO_MANY_LOGINS, retry_after=held_back(conn, [key]) or 1)

    def succeeded(self, conn: Connection, email: str, address: str) -> None:
        """Clear the account's count; take back the address's count of this attempt."""
        account, client = self.keys(email, address)
        store.clear_attempts(conn, account)
        store.uncount_attempt(conn, client)
