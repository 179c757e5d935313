"""Typed reads from one JSON object, each failure naming the field by its dotted path."""

from __future__ import annotations

import math
import re
from typing import Any, NoReturn

_MISSING = object()


class ConfigError(ValueError):
    """The deployment config file is invalid."""


def fail(path: str, reason: str) -> NoReturn:
    raise ConfigError(f"{path}: {reason}")


class Fields:
    """One JSON object being read; ``done()`` refuses keys nobody asked for (typos)."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self._data = data
        self._where = where
        self._read: set[str] = set()

    @classmethod
    def of(cls, value: Any, where: str) -> Fields:
        if not isinstance(value, dict):
            fail(where or "config", f"must be a JSON object, got {_kind(value)}")
        return cls(value, where)

    def path(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def _get(self, key: str, default: Any = _MISSING) -> Any:
        self._read.add(key)
        value = self._data.get(key)
        if value is not None:
            return value
        if default is _MISSING:
            fail(self.path(key), "is required")
        return default

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def optional_section(self, key: str) -> Fields:
        """The object at ``key``, or an empty one when it is absent."""
        return Fields.of(self._get(key, {}), self.path(key))

    def section(self, key: str) -> Fields:
        return Fields.of(self._get(key), self.path(key))

    def items(self, key: str) -> list[Fields]:
        value = self._get(key)
        if not isinstance(value, list):
            fail(self.path(key), f"must be a list, got {_kind(value)}")
        return [Fields.of(item, f"{self.path(key)}[{i}]") for i, item in enumerate(value)]

    def string(self, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            fail(self.path(key), f"must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            fail(self.path(key), f"must be {what or 'like ' + pattern.pattern}, got {value!r}")
        return value

    def optional_str(
        self, key: str, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> str | None:
        if self._get(key, None) in (None, ""):
            return None
        return self.string(key, pattern, what)

    def string_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key, None)
        if value is None:
            return default
        if not isinstance(value, list) or not value:
            fail(self.path(key), f"must be a non-empty list of strings, got {value!r}")
        if not all(isinstance(item, str) and item for item in value):
            fail(self.path(key), f"must hold only non-empty strings, got {value!r}")
        return tuple(value)

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int:
        value = self._get(key, _MISSING if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            fail(self.path(key), f"must be an integer, got {value!r}")
        if not low <= value <= high:
            fail(self.path(key), f"must be between {low} and {high}, got {value}")
        return value

    def number(self, key: str, low: float, high: float) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            fail(self.path(key), f"must be a number, got {value!r}")
        if not low <= value <= high:
            fail(self.path(key), f"must be between {low} and {high}, got {value}")
        return float(value)

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self._get(key, _MISSING if default is None else default)
        if not isinstance(value, bool):
            fail(self.path(key), f"must be true or false, got {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            fail(self.path(unknown[0]), "is not a known field (a typo?)")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
