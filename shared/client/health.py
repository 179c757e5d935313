"""Waiting for an API to come up: what every launcher of the web API needs."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_healthy(
    url: str,
    timeout: float,
    *,
    still_starting: Callable[[], bool] = lambda: True,
    interval: float = 0.2,
) -> bool:
    """Poll ``{url}/api/health`` until it answers 200 (True) or ``timeout`` passes (False).

    ``still_starting`` is called before each try; returning False (the process
    died, or the user gave up) stops the wait early.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and still_starting():
        try:
            if httpx.get(f"{url.rstrip('/')}/api/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    return False
