"""Marshmallow pieces shared by the areas of the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from shared.enums import UserRole


class UtcDateTime(ma.fields.DateTime):
    """A timestamp on the wire: ISO 8601 in UTC with a ``Z``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return utc_iso(value)


def utc_iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def RolesField(**kwargs: Any) -> ma.fields.List[str]:  # noqa: N802 - reads like a field class
    """A non-empty list of known roles."""
    role = ma.fields.String(validate=ma.validate.OneOf([r.value for r in UserRole]))
    return ma.fields.List(role, validate=ma.validate.Length(min=1), **kwargs)


class Strict(ma.Schema):
    """A request body: unknown keys are an error, so a typo never passes silently."""

    class Meta:
        unknown = ma.RAISE
