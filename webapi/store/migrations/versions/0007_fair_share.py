"""fair share: users' weight and limits, jobs' priority, live job counts per type and user

``job_loads`` holds, per job type and user, how many jobs are PENDING and running;
the fair-share claim picks the least loaded user from it through one small index.
Triggers keep it exactly in step with ``jobs``, whatever statement changes a job
(create, batch create, claim, assign, result, release, cancel, expiry, delete,
cascades): inserts once per statement (a batch is one upsert per user), status
changes and deletes of live jobs per row.

Revision ID: 0007
Revises: 0006

"""

# ruff: noqa: S608 - the DDL is assembled from fixed fragments, with no values
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "('PENDING', 'IN_PROGRESS')"

# Counts of live jobs per (type, user) from a set of job rows, with the user's settings.
_COUNTS = f"""
SELECT n.type, n.user_id, count(*) FILTER (WHERE n.status = 'PENDING'),
       count(*) FILTER (WHERE n.status = 'IN_PROGRESS'), u.weight, u.max_running,
       min(n.created_at) FILTER (WHERE n.status = 'PENDING')
FROM {{rows}} n JOIN users u ON u.id = n.user_id
WHERE n.status IN {LIVE}
GROUP BY n.type, n.user_id, u.weight, u.max_running
ORDER BY n.type, n.user_id
"""

_ADD = """
INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
{counts}
ON CONFLICT (type, user_id) DO UPDATE SET
  pending = l.pending + excluded.pending, running = l.running + excluded.running,
  waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                       THEN greatest(l.waiting_since, excluded.waiting_since)
                       ELSE l.waiting_since END
"""

INSERTED = f"""
CREATE FUNCTION job_loads_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_ADD.format(counts=_COUNTS.format(rows="new_jobs"))};
  RETURN NULL;
END
$$
"""

# A claim or assign (PENDING → IN_PROGRESS) serves the user now: its waiting starts again.
STATUS_CHANGED = f"""
CREATE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE job_loads l SET
    pending = l.pending + (NEW.status = 'PENDING')::int - (OLD.status = 'PENDING')::int,
    running = l.running + (NEW.status = 'IN_PROGRESS')::int - (OLD.status = 'IN_PROGRESS')::int,
    waiting_since = CASE WHEN OLD.status = 'PENDING' AND NEW.status = 'IN_PROGRESS'
                         THEN now() ELSE l.waiting_since END
  WHERE l.type = NEW.type AND l.user_id = NEW.user_id;
  IF NOT FOUND AND NEW.status IN {LIVE} THEN
    {_ADD.format(counts=_COUNTS.format(rows="(SELECT NEW.*)"))};
  END IF;
  RETURN NULL;
END
$$
"""

DELETED = """
CREATE FUNCTION job_loads_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE job_loads l SET
    pending = l.pending - (OLD.status = 'PENDING')::int,
    running = l.running - (OLD.status = 'IN_PROGRESS')::int
  WHERE l.type = OLD.type AND l.user_id = OLD.user_id;
  RETURN NULL;
END
$$
"""

TRIGGERS = (
    "CREATE TRIGGER jobs_count_inserted AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_jobs"
    " FOR EACH STATEMENT EXECUTE FUNCTION job_loads_inserted()",
    "CREATE TRIGGER jobs_count_status AFTER UPDATE OF status ON jobs FOR EACH ROW"
    f" WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status IN {LIVE}"
    f" OR NEW.status IN {LIVE})) EXECUTE FUNCTION job_loads_status_changed()",
    "CREATE TRIGGER jobs_count_deleted AFTER DELETE ON jobs FOR EACH ROW"
    f" WHEN (OLD.status IN {LIVE}) EXECUTE FUNCTION job_loads_deleted()",
)


def upgrade() -> None:
    op.execute("ALTER TYPE audit_action ADD VALUE IF NOT EXISTS 'QUOTA_CHANGED'")
    op.add_column(
        "users", sa.Column("weight", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.add_column("users", sa.Column("max_pending", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("max_running", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_users_quota_valid"),
        "users",
        "weight >= 1 AND max_pending >= 0 AND max_running >= 0",
    )
    op.add_column(
        "jobs",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_jobs_priority_range"), "jobs", "priority BETWEEN -100 AND 100"
    )
    op.create_index(
        "ix_jobs_pending_type_user_priority",
        "jobs",
        ["type", "user_id", sa.text("priority DESC"), "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "job_loads",
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("running", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("weight", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=True),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "pending >= 0 AND running >= 0", name=op.f("ck_job_loads_counts_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_job_loads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("type", "user_id", name=op.f("pk_job_loads")),
    )
    op.create_index(op.f("ix_job_loads_user_id"), "job_loads", ["user_id"], unique=False)
    op.create_index(
        "ix_job_loads_pick",
        "job_loads",
        [
            "type",
            sa.text("(CAST(running AS double precision) / weight)"),
            "waiting_since",
            "user_id",
        ],
        unique=False,
        postgresql_where=sa.text("pending > 0 AND (max_running IS NULL OR running < max_running)"),
    )
    op.execute(_ADD.format(counts=_COUNTS.format(rows="jobs")))
    for statement in (INSERTED, STATUS_CHANGED, DELETED, *TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("jobs_count_inserted", "jobs_count_status", "jobs_count_deleted"):
        op.execute(f"DROP TRIGGER {trigger} ON jobs")
    for function in ("job_loads_inserted", "job_loads_status_changed", "job_loads_deleted"):
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_index("ix_job_loads_pick", table_name="job_loads")
    op.drop_index(op.f("ix_job_loads_user_id"), table_name="job_loads")
    op.drop_table("job_loads")
    op.drop_index("ix_jobs_pending_type_user_priority", table_name="jobs")
    op.drop_constraint(op.f("ck_jobs_priority_range"), "jobs", type_="check")
    op.drop_column("jobs", "priority")
    op.drop_constraint(op.f("ck_users_quota_valid"), "users", type_="check")
    op.drop_column("users", "max_running")
    op.drop_column("users", "max_pending")
    op.drop_column("users", "weight")
    # PostgreSQL cannot drop an enum value; QUOTA_CHANGED stays, unused.
