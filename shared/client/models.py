"""The small typed answers of the worker routes.

Jobs and assignments stay plain dicts with the wire's snake_case keys (``id``,
``job_id``, ``type``, ``status``, ``input_payload``, ``storage_uri``, ...): the
API owns their shape, and a custom handler may read any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from the wire as an aware datetime (naive means UTC)."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Claim:
    """A claimed job and the assignment that holds it."""

    job: dict[str, Any]
    assignment: dict[str, Any]

    @property
    def job_id(self) -> int:
        return int(self.job["id"])

    @property
    def job_type(self) -> str:
        return str(self.job["type"])

    @property
    def assignment_id(self) -> int:
        return int(self.assignment["id"])

    @property
    def storage_uri(self) -> str:
        return str(self.assignment["storage_uri"])

    @property
    def expires_at(self) -> datetime | None:
        return parse_time(self.assignment.get("expires_at"))

    @property
    def deadline_at(self) -> datetime | None:
        """When the attempt's run-time limit ends it (None: no limit)."""
        return parse_time(self.assignment.get("deadline_at"))


@dataclass(frozen=True)
class HeartbeatAnswer:
    cancelled: bool
    expires_at: datetime | None
