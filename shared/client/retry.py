"""Bounded retries with exponential backoff and full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and for how long a failed request is tried again.

    A request is sent at most ``attempts`` times, and no retry starts once
    ``total_seconds`` would be exceeded by its delay.
    """

    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    total_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.total_seconds < 0:
            raise ValueError("delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The pause before the attempt after ``attempt`` (1-based): full jitter.

        A server's ``Retry-After`` raises the pause, bounded by ``max_delay``.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        pause = random.uniform(0, ceiling)
        if retry_after is not None:
            pause = max(pause, min(retry_after, self.max_delay))
        return pause


NO_RETRY = RetryPolicy(attempts=1)
