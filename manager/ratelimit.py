"""A token bucket that keeps the manager within an API's request rate."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` calls per second on average, bursts of up to ``burst``; time is injected."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.burst
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> float:
        """Take one token, sleeping until one is there; returns the time slept."""
        self._refill()
        waited = 0.0
        if self.tokens < 1:
            waited = (1 - self.tokens) / self.rate
            self.sleep(waited)
            self._refill()
            # A clock that did not move (tests) must still pay for the token.
            self.tokens = max(self.tokens, 1.0)
        self.tokens -= 1
        return waited
