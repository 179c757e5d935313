"""A duration as a person reads it, the same on the dashboard and in the ``shoal`` CLI."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``2 h 03 min``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
