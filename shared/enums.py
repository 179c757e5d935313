"""Enumerations stored in the database and spoken on the wire."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    WAITING = "WAITING"  # its dependencies are not met yet: never claimed, not demand
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.WAITING, JobStatus.PENDING, JobStatus.IN_PROGRESS)


class DependencyCondition(enum.StrEnum):
    """When a job that depends on a job or a batch (its parent) may run."""

    AFTEROK = "afterok"  # every job of the parent succeeded
    AFTERANY = "afterany"  # every job of the parent ended, however
    AFTERNOTOK = "afternotok"  # every job of the parent ended, and at least one did not succeed


class StorageScheme(enum.StrEnum):
    S3 = "S3"
    LOCAL = "LOCAL"


class AssignmentOutcome(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    RELEASED = "RELEASED"
    LOST = "LOST"  # its worker was lost (the manager saw it die, or stop answering)


class Capacity(enum.StrEnum):
    """What an attempt's task ran on; each is priced separately (docs/accounting.md)."""

    ON_DEMAND = "on_demand"
    SPOT = "spot"
    LOCAL = "local"  # a worker outside ECS (shoal dev, a laptop): priced as on-demand


class UserRole(enum.StrEnum):
    ADMIN = "ADMIN"
    ANALYST = "ANALYST"
    DEFAULT = "DEFAULT"
    WORKER = "WORKER"
    MANAGER = "MANAGER"


class AuditAction(enum.StrEnum):
    REGISTER = "REGISTER"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    CHANGE_PASSWORD = "CHANGE_PASSWORD"
    ROLES_CHANGED = "ROLES_CHANGED"
    USER_CREATED = "USER_CREATED"
    USER_DELETED = "USER_DELETED"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    QUOTA_CHANGED = "QUOTA_CHANGED"
    JOB_TYPE_CREATED = "JOB_TYPE_CREATED"
    JOB_TYPE_CHANGED = "JOB_TYPE_CHANGED"
    JOB_TYPE_RETIRED = "JOB_TYPE_RETIRED"
    PRE_APPROVED = "PRE_APPROVED"
    PRE_APPROVAL_WITHDRAWN = "PRE_APPROVAL_WITHDRAWN"
    PRICE_CHANGED = "PRICE_CHANGED"


class WorkerExit(enum.IntEnum):
    """A worker's exit codes; the manager reads them to tell a failed start from a death."""

    OK = 0  # idle timeout or a requested stop
    ERROR = 1  # refused or crashed after it had worked
    BAD_SETTINGS = 2  # a setting is wrong: it never started
    START_FAILED = 3  # refused or crashed before the API first answered its claim
    HANDLER_STUCK = 4  # a handler ignored its cancellation: the process ends to stop it

    @property
    def never_started(self) -> bool:
        return self in (WorkerExit.BAD_SETTINGS, WorkerExit.START_FAILED)
