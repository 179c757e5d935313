"""Frozen value objects for the store's rows, each built by ``from_row``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from sqlalchemy import Result

from shared.enums import AssignmentOutcome, Capacity, JobStatus, StorageScheme


class Record:
    @classmethod
    def from_row(cls, row: Mapping[Any, Any], prefix: str = "") -> Self:
        """Build from a result row; ``prefix`` picks aliased columns such as ``job__id``."""
        names = [field.name for field in fields(cls)]  # type: ignore[arg-type]
        return cls(**{name: row[prefix + _column(name)] for name in names})

    @classmethod
    def first_of(cls, result: Result[Any], prefix: str = "") -> Self | None:
        """The record of the first row of ``result``, or None when it has none."""
        row = result.mappings().first()
        return None if row is None else cls.from_row(row, prefix)

    @classmethod
    def all_of(cls, result: Result[Any], prefix: str = "") -> list[Self]:
        return [cls.from_row(row, prefix) for row in result.mappings()]

    @classmethod
    def columns(cls, table_alias: str, prefix: str) -> str:
        """The select list that ``from_row(row, prefix)`` reads."""
        names = [_column(field.name) for field in fields(cls)]  # type: ignore[arg-type]
        return ", ".join(f'{table_alias}."{name}" AS "{prefix}{name}"' for name in names)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, values as they are: unlike ``dataclasses.asdict``, which
        copies a payload level by level and runs out of stack on a deep one (a result
        nested ~600 levels, which the API parses, made every read of its job a 500)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def to_wire(self) -> dict[str, Any]:
        """The snake_case shape of the seed's entity diagram (timestamps ISO 8601 UTC)."""
        return {_column(f.name): _wire(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _column(name: str) -> str:
    return "metadata" if name == "metadata_" else name


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


@dataclass(frozen=True)
class JobRecord(Record):
    id: int
    type: str
    status: JobStatus
    user_id: int
    input_payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    attempts: int
    max_attempts: int
    lease_expires_at: datetime | None
    progress: float
    progress_message: str | None
    error_message: str | None
    started_at: datetime | None
    finished_at: datetime | None
    priority: int
    type_revision: int | None  # a registered type's revision the job runs under
    name: str | None
    tags: dict[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


@dataclass(frozen=True)
class AssignmentRecord(Record):
    id: int
    job_id: int
    attempt: int
    created_at: datetime
    updated_at: datetime
    ecs_task_arn: str
    ecs_cluster_arn: str
    expires_at: datetime
    storage_scheme: StorageScheme
    storage_uri: str
    heartbeat_at: datetime | None
    completed_at: datetime | None
    outcome: AssignmentOutcome | None
    claimed_by_user_id: int | None
    claimed_by_api_key_id: int | None
    deadline_at: datetime | None
    lost_reason: str | None
    counted: bool
    vcpu: Decimal
    memory_gb: Decimal
    capacity: Capacity

    def __post_init__(self) -> None:
        object.__setattr__(self, "capacity", Capacity(self.capacity))
        object.__setattr__(self, "storage_scheme", StorageScheme(self.storage_scheme))
        if self.outcome is not None:
            object.__setattr__(self, "outcome", AssignmentOutcome(self.outcome))


@dataclass(frozen=True)
class ResultRecord(Record):
    id: int
    job_id: int
    assignment_id: int
    created_at: datetime
    result_payload: dict[str, Any] | None
    storage_scheme: StorageScheme
    storage_uri: str
    metadata_: dict[str, Any] | None
    cache_valid: bool


@dataclass(frozen=True)
class JobRequestRecord(Record):
    id: int
    created_at: datetime
    user_id: int
    type: str
    input_payload: dict[str, Any]
    cache_hit: bool
    job_id: int


@dataclass(frozen=True)
class BatchRecord(Record):
    id: int
    user_id: int
    type: str
    size: int
    created_at: datetime
    name: str | None


@dataclass(frozen=True)
class JobTypeRecord(Record):
    """A registered job type as it is now: its row and its current revision's content."""

    name: str
    revision: int
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any]
    content_hash: str


@dataclass(frozen=True)
class JobTypeRevisionRecord(Record):
    name: str
    revision: int
    definition: dict[str, Any]
    content_hash: str
    created_at: datetime
    created_by: int | None


@dataclass(frozen=True)
class Claimant:
    """Who takes an assignment: the worker's task identity and the credential it used."""

    ecs_task_arn: str
    ecs_cluster_arn: str
    user_id: int | None
    api_key_id: int | None = None
    # What the worker said its task runs on (None: on-demand, unless it is local).
    reported_capacity: Capacity | None = None

    @property
    def capacity(self) -> Capacity:
        """A worker outside ECS (its cluster ``local``) is local, whatever it says."""
        if self.ecs_cluster_arn == "local":
            return Capacity.LOCAL
        return self.reported_capacity or Capacity.ON_DEMAND

    def holds(self, assignment: AssignmentRecord) -> bool:
        return (assignment.claimed_by_user_id, assignment.claimed_by_api_key_id) == (
            self.user_id,
            self.api_key_id,
        )


@dataclass(frozen=True)
class UserRecord(Record):
    id: int
    email: str
    password_hash: str
    roles: list[str]
    created_at: datetime
    updated_at: datetime
    weight: int
    max_pending: int | None
    max_running: int | None
    system: bool


@dataclass(frozen=True)
class PreApprovalRecord(Record):
    id: int
    email: str
    roles: list[str]
    used: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyRecord(Record):
    """A key as admins see it: never the key, nor its hash."""

    id: int
    name: str
    prefix: str
    roles: list[str]
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class PolygonRecord(Record):
    id: int
    user_id: int
    polygon: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NoteRecord(Record):
    id: int
    polygon_id: int
    user_id: int
    content: str
    created_at: datetime
    updated_at: datetime
