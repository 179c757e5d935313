"""Typed SQLAlchemy models: the seed's entity diagram plus what real leases need."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.enums import (
    AssignmentOutcome,
    AuditAction,
    Capacity,
    DependencyCondition,
    JobStatus,
    StorageScheme,
)

# A fixed naming convention keeps constraint names, and so autogenerate, stable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MAX_PRIORITY = 100
MAX_BATCH_NAME = 200  # characters of a batch's name
ROLES_CHECK = "roles <@ ARRAY['ADMIN','ANALYST','DEFAULT','WORKER','MANAGER']::varchar[]"


def _enum(enum_class: type, name: str) -> Enum:
    return Enum(enum_class, name=name, values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        CheckConstraint(ROLES_CHECK, name="roles_known"),
        CheckConstraint(
            "weight >= 1 AND max_pending >= 0 AND max_running >= 0", name="quota_valid"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), nullable=False, server_default=text("ARRAY['DEFAULT']::varchar[]")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # Fair share (set by admins): a user's share of the workers of a type is weight
    # in proportion; at most max_pending PENDING jobs in all (past it a submit gets 429),
    # at most max_running running in each type. NULL: no limit.
    weight: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    max_pending: Mapped[int | None] = mapped_column(Integer)
    max_running: Mapped[int | None] = mapped_column(Integer)
    # An account the platform runs as (the manager's, a worker's): never deleted by the API.
    system: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class RefreshToken(Timestamped, Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class ApiKey(Timestamped, Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(ROLES_CHECK, name="roles_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(16)), nullable=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class PreApprovedUser(Timestamped, Base):
    __tablename__ = "pre_approved_users"
    __table_args__ = (
        Index("uq_pre_approved_users_email_lower", func.lower(text("email")), unique=True),
        CheckConstraint(ROLES_CHECK, name="roles_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(16)), nullable=False)
    used: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class UserLog(Base):
    """The audit log: who did what to which account, and when."""

    __tablename__ = "user_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction, "audit_action"), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )


class Polygon(Timestamped, Base):
    __tablename__ = "polygons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    polygon: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PolygonNote(Timestamped, Base):
    __tablename__ = "polygon_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    polygon_id: Mapped[int] = mapped_column(
        ForeignKey("polygons.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    content: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


# The job lists' sort keys as indexed; webapi/store/sql/job_lists.py sorts by the same.
LIST_SORT_KEYS = {
    "status": "status",
    "type": "type",
    "name": "COALESCE(name, ''::character varying)",
    "runtime": "COALESCE(EXTRACT(epoch FROM finished_at - started_at), '-1'::integer::numeric)",
}


def _list_indexes() -> list[Index]:
    return [
        index
        for key, expression in LIST_SORT_KEYS.items()
        for index in (
            Index(f"ix_jobs_{key}_id", text(expression), "id"),
            Index(f"ix_jobs_user_{key}_id", "user_id", text(expression), "id"),
        )
    ]


class Job(Timestamped, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim: oldest pending job of a type. Partial, so finished jobs cost nothing.
        Index(
            "ix_jobs_pending_type_created",
            "type",
            "created_at",
            "id",
            postgresql_where=text("status = 'PENDING'"),
        ),
        # The fair-share claim: a user's next job, highest priority first, then oldest.
        Index(
            "ix_jobs_pending_type_user_priority",
            "type",
            "user_id",
            text("priority DESC"),
            "created_at",
            "id",
            postgresql_where=text("status = 'PENDING'"),
        ),
        # Lease takeover and the expiry sweep: live jobs by lease end.
        Index(
            "ix_jobs_in_progress_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'IN_PROGRESS'"),
        ),
        # Listing, newest first, per user and overall.
        # It carries created_at (never updated): a list of one user's jobs in a time range
        # skips the others in the index, not in the table.
        Index("ix_jobs_user_id_id", "user_id", "id", postgresql_include=["created_at"]),
        Index("ix_jobs_type_hash", "type", "hash"),
        # The job lists (webapi/store/sql/job_lists.py): filters and sorts, per user and
        # overall, each ending in the id that makes the order total (keyset paging).
        Index(
            "ix_jobs_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
        ),
        Index("ix_jobs_created_at", "created_at"),
        *_list_indexes(),
        Index(
            "ix_jobs_finished_at", "finished_at", postgresql_where=text("finished_at IS NOT NULL")
        ),
        # The usage estimate: a type's latest succeeded jobs (migration 0022).
        Index(
            "ix_jobs_succeeded_type_finished_at",
            "type",
            "finished_at",
            postgresql_where=text("status = 'SUCCEEDED'"),
        ),
        # A workflow's live jobs (its end, webhook_workflow_ended), without its ended ones.
        Index(
            "ix_jobs_workflow_id_status",
            "workflow_id",
            "status",
            postgresql_where=text("workflow_id IS NOT NULL"),
        ),
        CheckConstraint("attempts >= 0 AND released >= 0", name="attempts_non_negative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint(
            f"priority BETWEEN {-MAX_PRIORITY} AND {MAX_PRIORITY}", name="priority_range"
        ),
        # A job of a registered type names a revision that exists (and so stays).
        ForeignKeyConstraint(
            ["type", "type_revision"],
            ["job_type_revisions.name", "job_type_revisions.revision"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), nullable=False, server_default=JobStatus.PENDING.value
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    input_payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # Attempts that do not count against max_attempts: handed back by their worker
    # (release), or lost with a worker the platform took away (platform_losses of them).
    released: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    platform_losses: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    lease_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    # The run-time limit of one attempt (NULL: none, for jobs created before it existed).
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))
    progress_message: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Someone follows this job's events: its claim, progress and result are notified.
    watched: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Orders one user's own PENDING jobs under fair share: higher first.
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    # The revision of a registered type the job was submitted under (NULL: a built-in or
    # entry-point type): its result schema and run spec, even after the type changed.
    type_revision: Mapped[int | None] = mapped_column(Integer)
    # What its submitter called it, and their ``{key: value}`` labels to filter by.
    name: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[dict[str, str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # The workflow whose step created it (or reused it), if any: set by the insert itself
    # in Workflows.create's transaction, which sets ``shoal.workflow_id``.
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"),
        server_default=text(
            "CAST(NULLIF(current_setting('shoal.workflow_id', true), '') AS bigint)"
        ),
    )


class JobType(Base):
    """A job type registered through the API; its content is its revisions'."""

    __tablename__ = "job_types"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The current revision (its row in job_type_revisions).
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    # Retired: no new submissions; its jobs already queued still run.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class JobTypeRevision(Base):
    """One content of a registered type, kept for good: jobs submitted under it run by it."""

    __tablename__ = "job_type_revisions"

    name: Mapped[str] = mapped_column(
        ForeignKey("job_types.name", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The normalised type document (shared/jobtypes/document.py), every default filled in.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # SHA-256 of the definition as canonical JSON: an unchanged PUT makes no revision.
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class JobLoad(Base):
    """Live jobs per job type and user: what the fair-share claim picks a user by.

    Kept exactly in step with ``jobs`` by triggers (migration 0007) on every insert,
    status change and delete; ``weight`` and ``max_running`` are the user's, copied
    here so one index orders users by running jobs per weight.
    """

    __tablename__ = "job_loads"
    __table_args__ = (
        # The claim's pick: the least loaded user (running / weight) with pending work
        # and room to run more, then the one waiting longest.
        Index(
            "ix_job_loads_pick",
            "type",
            text("(CAST(running AS double precision) / weight)"),
            "waiting_since",
            "user_id",
            postgresql_where=text("pending > 0 AND (max_running IS NULL OR running < max_running)"),
        ),
        CheckConstraint("pending >= 0 AND running >= 0", name="counts_non_negative"),
    )

    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    pending: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    running: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    weight: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    max_running: Mapped[int | None] = mapped_column(Integer)
    # When the user was last served a job of this type, or its first pending job was
    # created if later: ties of load go to the user waiting longest.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobBatch(Timestamped, Base):
    """Jobs submitted in one request; its members are the batch's job requests."""

    __tablename__ = "job_batches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str | None] = mapped_column(String(MAX_BATCH_NAME))
    # Its inputs whose job ended, and of those the ones that succeeded: counted from
    # the first time a job depends on the batch (NULL until then), then kept by the
    # trigger ``job_ended`` (migration 0017), so judging a dependency never scans it.
    ended_jobs: Mapped[int | None] = mapped_column(Integer)
    succeeded_jobs: Mapped[int | None] = mapped_column(Integer)


class JobDependency(Base):
    """A job (``job_id``) waits for a job or a whole batch (its parent), on a condition.

    Parents exist when the dependency is made (cycles are impossible); the trigger
    ``job_ended`` (migration 0017) settles a WAITING job when a parent ends.
    """

    __tablename__ = "job_dependencies"
    __table_args__ = (
        CheckConstraint("(parent_job_id IS NULL) <> (parent_batch_id IS NULL)", name="one_parent"),
        Index(
            "ix_job_dependencies_parent_job_id",
            "parent_job_id",
            postgresql_where=text("parent_job_id IS NOT NULL"),
        ),
        Index(
            "ix_job_dependencies_parent_batch_id",
            "parent_batch_id",
            postgresql_where=text("parent_batch_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    parent_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    parent_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_batches.id", ondelete="CASCADE")
    )
    condition: Mapped[DependencyCondition] = mapped_column(
        _enum(DependencyCondition, "dependency_condition"), nullable=False
    )


class JobRequest(Timestamped, Base):
    __tablename__ = "job_requests"
    __table_args__ = (
        Index(
            "ix_job_requests_batch_id", "batch_id", postgresql_where=text("batch_id IS NOT NULL")
        ),
        # The jobs the result cache handed a user (the reused ones of their job list).
        Index("ix_job_requests_reused", "user_id", "job_id", postgresql_where=text("cache_hit")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    input_payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    cache_hit: Mapped[bool] = mapped_column(Boolean, nullable=False)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The batch this request was part of (POST /api/jobs/batch), if any.
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("job_batches.id", ondelete="CASCADE"))
    # Its place among the batch's inputs, from 1 (the n-th line of a JSON-lines body that
    # is not blank); kept when other inputs' jobs are pruned.
    input_index: Mapped[int | None] = mapped_column(Integer)


class Workflow(Timestamped, Base):
    """Jobs and sweeps submitted as one graph (POST /api/workflows): each named step's
    job or batch; their statuses are read from those."""

    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # [{"name", "type", "job" | "batch", "after": {step: condition}}] in creation order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)


class IdempotencyKey(Timestamped, Base):
    """A submission's ``Idempotency-Key``: the same key from the same user for the same
    request answers what the first did, for a day, instead of creating anything."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_created_at", "created_at"),
        # Deleting a request or a batch (pruning) finds its key by these.
        Index(
            "ix_idempotency_keys_request_id",
            "request_id",
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        Index(
            "ix_idempotency_keys_batch_id",
            "batch_id",
            postgresql_where=text("batch_id IS NOT NULL"),
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of what was asked: the route, the type, the canonical inputs, the priority.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    # What the first answered: its job request (POST /api/jobs) or its batch.
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_requests.id", ondelete="CASCADE")
    )
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("job_batches.id", ondelete="CASCADE"))


class JobAssignment(Timestamped, Base):
    __tablename__ = "job_assignments"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    ecs_task_arn: Mapped[str] = mapped_column(String(2048), nullable=False)
    ecs_cluster_arn: Mapped[str] = mapped_column(String(2048), nullable=False)
    claimed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    claimed_by_api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    storage_scheme: Mapped[StorageScheme] = mapped_column(
        _enum(StorageScheme, "storage_scheme"), nullable=False
    )
    storage_uri: Mapped[str] = mapped_column(String(2048), nullable=False)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the attempt's run-time limit ends it: the lease never reaches past this.
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[AssignmentOutcome | None] = mapped_column(
        _enum(AssignmentOutcome, "assignment_outcome")
    )
    # Why its worker was lost (outcome LOST), as the manager saw it.
    lost_reason: Mapped[str | None] = mapped_column(Text)
    # Whether the attempt counts against the job's max_attempts: not when it was
    # handed back (RELEASED) or lost to the platform.
    counted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # The task it ran on (migration 0022): its size and capacity price its run time.
    vcpu: Mapped[Decimal] = mapped_column(Numeric(6, 3), nullable=False, server_default=text("1"))
    memory_gb: Mapped[Decimal] = mapped_column(
        Numeric(7, 3), nullable=False, server_default=text("2")
    )
    capacity: Mapped[Capacity] = mapped_column(
        _enum(Capacity, "capacity"), nullable=False, server_default=text("'on_demand'")
    )


class UsageFigures:
    """What a rollup row adds up: attempts, their run time and its vCPU and GB seconds."""

    attempts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    run_seconds: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    vcpu_seconds: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    gb_seconds: Mapped[Decimal] = mapped_column(Numeric, nullable=False)


class UsageHour(UsageFigures, Base):
    """What the attempts that ended in one hour used, per user, type, batch (0: none)
    and capacity: kept by the trigger ``usage_attempts_ended`` (migration 0022) in the
    transactions that end attempts, so the usage reports never read the attempts.

    ``stripe`` spreads one key over a few rows (the ending connection's), so concurrent
    ends of one user's jobs do not queue on one row; readers sum the stripes. The
    housekeeping folds the days before today into one row per day and key (stripe -1,
    ``hour`` the day's start) and adds them to ``usage_months`` and ``usage_user_days``.
    """

    __tablename__ = "usage_hours"
    __table_args__ = (
        Index("ix_usage_hours_user_id_hour", "user_id", "hour"),
        Index("ix_usage_hours_batch_id", "batch_id", postgresql_where=text("batch_id <> 0")),
        # The rows not folded yet: the trigger's (stripes 0-7), not housekeeping's (-1),
        # everyone's and one user's (a few hours' worth: small).
        Index("ix_usage_hours_unfolded", "hour", postgresql_where=text("stripe >= 0")),
        Index(
            "ix_usage_hours_unfolded_user_id",
            "user_id",
            "hour",
            postgresql_where=text("stripe >= 0"),
        ),
    )

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # No foreign key: what a deleted user's jobs used stays in the fleet's figures.
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    capacity: Mapped[Capacity] = mapped_column(_enum(Capacity, "capacity"), primary_key=True)
    stripe: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class UsageMonth(UsageFigures, Base):
    """The folded days of ``usage_hours`` per month, user, type, batch and capacity: what
    the reports read for the whole months of a period (migration 0022)."""

    __tablename__ = "usage_months"
    __table_args__ = (Index("ix_usage_months_user_id_month", "user_id", "month"),)

    month: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    capacity: Mapped[Capacity] = mapped_column(_enum(Capacity, "capacity"), primary_key=True)


class UsageUserDay(UsageFigures, Base):
    """The folded days of ``usage_hours`` per day, user and capacity: what the report
    by day reads (migration 0022)."""

    __tablename__ = "usage_user_days"
    __table_args__ = (Index("ix_usage_user_days_user_id_day", "user_id", "day"),)

    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capacity: Mapped[Capacity] = mapped_column(_enum(Capacity, "capacity"), primary_key=True)


class Price(Base):
    """USD per vCPU-hour and per GB-hour of one region's capacity (migration 0022)."""

    __tablename__ = "prices"
    __table_args__ = (CheckConstraint("vcpu_hour >= 0 AND gb_hour >= 0", name="not_negative"),)

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    capacity: Mapped[Capacity] = mapped_column(_enum(Capacity, "capacity"), primary_key=True)
    vcpu_hour: Mapped[Decimal] = mapped_column(Numeric(12, 8), nullable=False)
    gb_hour: Mapped[Decimal] = mapped_column(Numeric(12, 8), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Worker(Base):
    """What the API knows of one worker identity (its ``ecsTaskArn``): until when it
    was last known to be alive, and whether the manager declared it lost.

    ``contact_until`` is written by its claims: a claim that may wait ``w`` seconds
    shows the worker alive until ``w`` seconds from its start. Its heartbeats are
    on its assignments (``heartbeat_at``).
    """

    __tablename__ = "workers"

    identity: Mapped[str] = mapped_column(String(2048), primary_key=True)
    # The start of its latest claim written here: once a job of it is assigned at or
    # after this, that claim has returned, and its wait no longer says anything.
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    contact_until: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, index=True
    )
    lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lost_reason: Mapped[str | None] = mapped_column(Text)
    # The platform took it away (Spot, a host, a kill from outside): its attempts
    # are not counted against their jobs' max_attempts.
    lost_to_platform: Mapped[bool | None] = mapped_column(Boolean)


class JobResult(Timestamped, Base):
    __tablename__ = "job_results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # One result per job: a second success can never be recorded.
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("job_assignments.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    result_payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    storage_scheme: Mapped[StorageScheme] = mapped_column(
        _enum(StorageScheme, "storage_scheme"), nullable=False
    )
    storage_uri: Mapped[str] = mapped_column(String(2048), nullable=False)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    cache_valid: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class JobLogChunk(Timestamped, Base):
    """One batch of an attempt's log lines, as its worker shipped it.

    ``lines`` is the batch as compact JSON text, ``[[seq, time, level, stream,
    message], ...]``: written and read whole, never queried inside (bench/log_layout.py
    has the numbers against jsonb and a row per line). Lines cut before this chunk's
    first line are counted on it: ``dropped_*`` by the worker, ``trimmed_*`` by the
    per-attempt bound (which deletes the oldest chunks and keeps the tail).
    """

    __tablename__ = "job_log_chunks"
    __table_args__ = (
        # A retried batch is stored once.
        UniqueConstraint("assignment_id", "first_seq"),
        Index("ix_job_log_chunks_job_id_attempt_first_seq", "job_id", "attempt", "first_seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("job_assignments.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    first_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    line_count: Mapped[int] = mapped_column(Integer, nullable=False)
    # UTF-8 bytes of the messages: what the per-attempt bound counts.
    bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    lines: Mapped[str] = mapped_column(Text, nullable=False)
    dropped_lines: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    dropped_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    trimmed_lines: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    trimmed_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))


class StorageDeletion(Timestamped, Base):
    """Result files to delete, one row per deleted job assignment (an outbox).

    A trigger on ``job_assignments`` (migration 0004) adds the rows in the deleting
    transaction, so deleting a user, pruning and every cascade are covered; the web
    API's storage cleanup deletes the files in the background and retries failures.
    """

    __tablename__ = "storage_deletions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    storage_uri: Mapped[str] = mapped_column(String(2048), nullable=False)
    # Not taken before this: now, a retry's back-off, or a cleanup that holds the row.
    not_before: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class LoginAttempt(Base):
    """Failed logins per key (an account's email or a client address) in a sliding window.

    Also the spent nonces of login forms (``login-form:<nonce>``, webapi/ui/login_token.py).
    """

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """A named lease granted by the web API, e.g. the manager's singleton lease."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(400), nullable=False)
    # The credential that took it ("key:<id>" or "user:<id>"): only it may renew or release.
    credential: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class FleetMinute(Base):
    """The fleet's size each minute (the most workers the manager reported in it), for
    the fleet page's chart; a day is kept."""

    __tablename__ = "fleet_minutes"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    workers: Mapped[int] = mapped_column(Integer, nullable=False)


class ComputeState(Base):
    """Small named JSON documents about compute: the manager's fleet, local scaling."""

    __tablename__ = "compute_state"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


# Webhooks (migration 0018): subscriptions, the events they are told of, and the outbox.


class Webhook(Timestamped, Base):
    """A user's subscription: where to POST which events, signed with its secret.

    ``job_id``, ``batch_id`` or ``workflow_id`` limits it to one job, batch or workflow
    (their jobs' ``job.ended``, their batches' ``batch.ended``, the workflow's
    ``workflow.ended``); none: every job, batch and workflow of ``user_id``.
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_job_id", "job_id", postgresql_where=text("job_id IS NOT NULL")),
        Index("ix_webhooks_batch_id", "batch_id", postgresql_where=text("batch_id IS NOT NULL")),
        Index(
            "ix_webhooks_workflow_id",
            "workflow_id",
            postgresql_where=text("workflow_id IS NOT NULL"),
        ),
        CheckConstraint("payload_format IN ('json', 'slack')", name="payload_format_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    failures_only: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("job_batches.id", ondelete="CASCADE"))
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    payload_format: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=text("'json'")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class WebhookEvent(Timestamped, Base):
    """Something that ended (``kind``: ``job.ended``, ``batch.ended``, ``workflow.ended``),
    written by the ending transaction when a subscription matched; ``data`` is the body's
    snapshot."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # A batch (or any subject but a job, which may end again after a retry) ends once.
        Index(
            "uq_webhook_events_kind_subject",
            "kind",
            "subject_id",
            unique=True,
            postgresql_where=text("kind <> 'job.ended'"),
        ),
        # Retention takes the oldest first.
        Index("ix_webhook_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[str] = mapped_column(
        UUID(as_uuid=False), nullable=False, server_default=text("gen_random_uuid()")
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class WebhookDelivery(Timestamped, Base):
    """The outbox: one event for one subscription, sent until it is answered with a 2xx
    or has failed for a day. ``sequence_key`` orders a subscription's events of one
    subject (``job:12``): one is not sent while an earlier one is PENDING."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('PENDING', 'DELIVERED', 'FAILED')", name="state_known"),
        # The sender's claim: due rows by time.
        Index("ix_webhook_deliveries_due", "next_at", postgresql_where=text("state = 'PENDING'")),
        # An earlier PENDING delivery of the same subject holds the later ones back.
        Index(
            "ix_webhook_deliveries_sequence",
            "webhook_id",
            "sequence_key",
            "id",
            postgresql_where=text("state = 'PENDING'"),
        ),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    sequence_key: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'PENDING'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Timestamped, Base):
    """One POST of a delivery: the answer's status and the start of its body, or the error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
