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

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.errors import TooManyRequests

# The clock, not now(): a caller that waited on a concurrent count's row lock has
# an older transaction time, which would stretch the wait it is told.
_HELD_FOR = text(
    """
    SELECT extract(epoch FROM max(locked_until) - clock_timestamp())
    FROM login_attempts WHERE key = ANY(:keys) AND locked_until > clock_timestamp()
    """
)

# One statement per key, so concurrent events never lose a count, and an event that
# finds the key held back (by a concurrent one, too) counts nothing. ``n`` is the
# count after this event; from the bound on, the key is held back for
# first_delay * 2^(n - bound) seconds, at most max_delay.
_COUNT = text(
    """
    INSERT INTO login_attempts AS a (key, window_start, failures, locked_until)
    VALUES (:key, now(), 1, CASE WHEN :bound <= 1
                                 THEN now() + make_interval(secs => :first_delay) END)
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                            THEN now() ELSE a.window_start END,
        failures = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                        THEN 1 ELSE a.failures + 1 END,
        locked_until = (
            SELECT CASE WHEN n >= :bound THEN now() + make_interval(
                secs => least(:max_delay, :first_delay * power(2, least(n - :bound, 60))))
            END
            FROM (SELECT CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                              THEN 1 ELSE a.failures + 1 END AS n) AS counted)
    WHERE a.locked_until IS NULL OR a.locked_until <= now()
    RETURNING failures
    """
)

# Old windows are useless; each count removes a few of its kind (keys of other kinds
# have other windows) so the table stays small.
_SWEEP = text(
    """
    DELETE FROM login_attempts WHERE key IN (
        SELECT key FROM login_attempts
        WHERE key LIKE :kind AND window_start < now() - make_interval(secs => :window)
          AND (locked_until IS NULL OR locked_until < now())
        LIMIT 100)
    """
)

_CLEAR = text("DELETE FROM login_attempts WHERE key = :key")
# A right password takes back the count its attempt made. The hold that count may
# have started goes too: any earlier hold had ended, or the attempt was not admitted.
_UNCOUNT = text(
    """
    UPDATE login_attempts SET failures = greatest(failures - 1, 0), locked_until = NULL
    WHERE key = :key
    """
)
TOO_MANY_LOGINS = "Too many failed logins; try again later."


@dataclass(frozen=True)
class Throttle:
    """``bound`` free events per key and window, then doubling delays up to ``max_delay``."""

    bound: int
    window_seconds: int
    first_delay: float
    max_delay: float

    def count(self, session: Session, key: str) -> bool:
        """Count an event; False (nothing counted) when the key was already held back."""
        params = {
            "key": key,
            "bound": self.bound,
            "window": float(self.window_seconds),
            "first_delay": self.first_delay,
            "max_delay": self.max_delay,
        }
        counted = session.execute(_COUNT, params).first() is not None
        kind = key.partition(":")[0] + ":%"
        session.execute(_SWEEP, {"kind": kind, "window": float(self.window_seconds)})
        return counted

    def admit(self, session: Session, key: str, message: str) -> None:
        """Count an event that happens only if admitted: 429 when the key is held back.

        One statement decides, so concurrent callers never get past the bound together.
        """
        if not self.count(session, key):
            raise TooManyRequests(message, retry_after=held_back(session, [key]) or 1)


def held_back(session: Session, keys: list[str]) -> int | None:
    """Whole seconds until none of ``keys`` is held back; None when none is."""
    held = session.execute(_HELD_FOR, {"keys": keys}).scalar_one()
    return None if held is None else max(1, math.ceil(float(held)))


@dataclass(frozen=True)
class LoginLimits:
    per_account: Throttle
    per_address: Throttle

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        return f"email:{email}", f"ip:{address}"

    def admit(self, session: Session, email: str, address: str) -> None:
        """Count the attempt as a failure before its password is checked; 429 while the
        account or the address is held back (the caller's rollback then undoes the count).

        Counting first is what stops guesses sent at once: each one takes its place in
        the count before any is checked. A right password takes it back (``succeeded``).
        """
        account, client = self.keys(email, address)
        for throttle, key in ((self.per_account, account), (self.per_address, client)):
            if not throttle.count(session, key):
                raise TooManyRequests(TOO_MANY_LOGINS, retry_after=held_back(session, [key]) or 1)

    def succeeded(self, session: Session, email: str, address: str) -> None:
        """Clear the account's count; take back the address's count of this attempt."""
        account, client = self.keys(email, address)
        session.execute(_CLEAR, {"key": account})
        session.execute(_UNCOUNT, {"key": client})
