"""Failed-login limits per account and per client address (the ``login_attempts`` table).

Each key (``email:<address>`` or ``ip:<address>``) counts failures in a window that
starts at its first failure. Reaching the bound locks the key for one window from
that failure; a successful login clears the account's key (never the address's, so
one valid account cannot reset an attacker's address).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.errors import TooManyRequests

_LOCKED = text(
    "SELECT count(*) FROM login_attempts WHERE key = ANY(:keys) AND locked_until > now()"
)

# One statement per key, so concurrent failures never lose a count.
_FAILURE = text(
    """
    INSERT INTO login_attempts AS a (key, window_start, failures, locked_until)
    VALUES (:key, now(), 1,
            CASE WHEN :bound <= 1 THEN now() + make_interval(secs => :window) END)
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                            THEN now() ELSE a.window_start END,
        failures = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                        THEN 1 ELSE a.failures + 1 END,
        locked_until = CASE
            WHEN (CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                       THEN 1 ELSE a.failures + 1 END) >= :bound
            THEN now() + make_interval(secs => :window)
            ELSE a.locked_until END
    """
)

# Old windows are useless; a failed login removes a few so the table stays small.
_SWEEP = text(
    """
    DELETE FROM login_attempts WHERE key IN (
        SELECT key FROM login_attempts
        WHERE window_start < now() - make_interval(secs => :window)
          AND (locked_until IS NULL OR locked_until < now())
        LIMIT 100)
    """
)

_CLEAR = text("DELETE FROM login_attempts WHERE key = :key")


@dataclass(frozen=True)
class LoginLimits:
    per_account: int
    per_address: int
    window_seconds: int

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        return f"email:{email}", f"ip:{address}"

    def check(self, session: Session, email: str, address: str) -> None:
        """``TooManyRequests`` while the account or the address is locked."""
        locked = session.execute(_LOCKED, {"keys": list(self.keys(email, address))}).scalar_one()
        if locked:
            raise TooManyRequests("Too many failed logins; try again later.")

    def record_failure(self, session: Session, email: str, address: str) -> None:
        account, client = self.keys(email, address)
        window = float(self.window_seconds)
        for key, bound in ((account, self.per_account), (client, self.per_address)):
            session.execute(_FAILURE, {"key": key, "bound": bound, "window": window})
        session.execute(_SWEEP, {"window": window})

    def clear_account(self, session: Session, email: str) -> None:
        session.execute(_CLEAR, {"key": self.keys(email, "")[0]})
