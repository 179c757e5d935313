"""Helpers that read settings from an environment mapping.

Components parse their settings into frozen dataclasses with an explicit
``from_env()``; these helpers make every bad value fail with one line that names
the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from shared.errors import SettingsError

T = TypeVar("T", int, float)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """The variable's value; without a default, a missing or empty one is an error."""
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise SettingsError(f"{name} is required but not set")
    return default


def env_optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(
    env: Mapping[str, str], name: str, default: T, kind: type[T], low: T | None, high: T | None
) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw}")
    return value


def env_int(
    env: Mapping[str, str], name: str, default: int, low: int | None = None, high: int | None = None
) -> int:
    return _number(env, name, default, int, low, high)


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    return _number(env, name, default, float, low, high)


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def env_list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma- or space-separated list."""
    raw = env.get(name, "").replace(",", " ").split()
    return tuple(raw) if raw else default


def env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(env, name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
