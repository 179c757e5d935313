"""Counted slots per caller: at most N open at once (waiting claims, event streams)."""

from __future__ import annotations

import threading
from collections.abc import Hashable


class Slots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: dict[Hashable, int] = {}

    def take(self, key: Hashable, cap: int) -> bool:
        """Take a slot for ``key``; False when it already holds ``cap``."""
        with self._lock:
            held = self._taken.get(key, 0)
            if held >= cap:
                return False
            self._taken[key] = held + 1
            return True

    def give_back(self, key: Hashable) -> None:
        with self._lock:
            left = self._taken[key] - 1
            if left:
                self._taken[key] = left
            else:
                del self._taken[key]
