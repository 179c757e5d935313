"""Reading the web API's ``/metrics``, and waiting on a gauge instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of sample ``name`` (with exactly ``labels``) in an exposition, or None."""
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == wanted:
                return float(found.value)
    return None


def wait_for_sample(
    read: Callable[[], str],
    name: str,
    value: float,
    labels: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> None:
    """Re-read ``/metrics`` (``read`` returns its text) until ``name`` equals ``value``."""
    deadline = time.monotonic() + timeout
    seen: float | None = None
    while time.monotonic() < deadline:
        seen = sample(read(), name, labels)
        if seen == value:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name}{labels or ''} stayed {seen}, never {value}, for {timeout}s")
