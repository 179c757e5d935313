"""workflows: the WAITING status, jobs that depend on jobs or batches, workflows

Revision ID: 0017
Revises: 0015

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED = "('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"

# As webapi/store/functions.sql has them at this revision.
_FUNCTIONS = """
CREATE OR REPLACE FUNCTION settle_waiting(dependents bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  settled integer;
BEGIN
  PERFORM 1 FROM jobs WHERE id = ANY(dependents) AND status = 'WAITING' ORDER BY id FOR UPDATE;
  WITH edge AS (
    SELECT e.id, e.job_id, e.condition, p.status AS parent_status,
           CASE WHEN e.parent_job_id IS NOT NULL THEN 'job ' || e.parent_job_id
                ELSE 'batch ' || e.parent_batch_id END AS parent,
           coalesce(b.size, 1) AS total,
           coalesce(b.ended_jobs,
                    (p.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))::int) AS ended,
           coalesce(b.succeeded_jobs, (p.status = 'SUCCEEDED')::int) AS ok
    FROM job_dependencies e
    LEFT JOIN jobs p ON p.id = e.parent_job_id
    LEFT JOIN job_batches b ON b.id = e.parent_batch_id
    WHERE e.job_id = ANY(dependents)
  ), verdict AS (
    SELECT e.id, e.job_id,
           CASE e.condition WHEN 'afterok' THEN e.ok = e.total
                            WHEN 'afterany' THEN e.ended = e.total
                            ELSE e.ended = e.total AND e.ok < e.total END AS met,
           CASE WHEN e.condition = 'afterok' AND e.ended > e.ok
                THEN 'dependency ' || e.parent
                     || coalesce(' ended ' || e.parent_status, ': ' || (e.ended - e.ok)
                                 || ' of its ' || e.total || ' jobs did not succeed')
                     || ' (afterok)'
                WHEN e.condition = 'afternotok' AND e.ok = e.total
                THEN 'dependency ' || e.parent
                     || coalesce(' ended ' || e.parent_status,
                                 ': all ' || e.total || ' of its jobs succeeded')
                     || ' (afternotok)'
           END AS dead
    FROM edge e
  ), judged AS (
    SELECT v.job_id, bool_and(v.met) AS met,
           (array_agg(v.dead ORDER BY v.id) FILTER (WHERE v.dead IS NOT NULL))[1] AS reason
    FROM verdict v GROUP BY v.job_id
  ), s AS (
    UPDATE jobs d SET
        status = CASE WHEN j.reason IS NULL THEN 'PENDING' ELSE 'CANCELLED' END::job_status,
        error_message = j.reason,
        finished_at = CASE WHEN j.reason IS NOT NULL THEN now() END,
        updated_at = now()
    FROM judged j
    WHERE d.id = j.job_id AND d.status = 'WAITING' AND (j.met OR j.reason IS NOT NULL)
    RETURNING d.id, d.type, d.user_id, d.status, d.watched, d.progress, d.progress_message
  ), counted AS (
    INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running,
        waiting_since)
    SELECT s.type, s.user_id, count(*), 0, u.weight, u.max_running, now()
    FROM s JOIN users u ON u.id = s.user_id
    WHERE s.status = 'PENDING'
    GROUP BY s.type, s.user_id, u.weight, u.max_running
    ORDER BY s.type, s.user_id
    ON CONFLICT (type, user_id) DO UPDATE SET
      pending = l.pending + excluded.pending,
      waiting_since = CASE WHEN l.pending = 0 THEN greatest(l.waiting_since, now())
                           ELSE l.waiting_since END
  ), followed AS (
    SELECT pg_notify('shoal_job_events', json_build_object('event', 'status', 'job_id', s.id,
        'type', s.type, 'status', s.status, 'progress', s.progress,
        'message', s.progress_message)::text) AS sent
    FROM s WHERE s.watched OR s.status = 'CANCELLED'
  ), woken AS (
    SELECT pg_notify('shoal_job_events', json_build_object('event', 'status', 'type', s.type,
        'status', 'PENDING', 'count', count(*))::text) AS sent
    FROM s WHERE s.status = 'PENDING' GROUP BY s.type
  )
  -- The notifying CTEs run only if read: read them.
  SELECT (SELECT count(*) FROM s) INTO settled
  FROM (SELECT count(*) FROM followed) f, (SELECT count(*) FROM woken) w;
  RETURN settled;
END
$$;

CREATE OR REPLACE FUNCTION job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  batches bigint[];
BEGIN
  WITH counted AS (
    UPDATE job_batches b SET ended_jobs = b.ended_jobs + q.n,
        succeeded_jobs = b.succeeded_jobs + CASE WHEN NEW.status = 'SUCCEEDED' THEN q.n ELSE 0 END
    FROM (SELECT r.batch_id, count(*) AS n FROM job_requests r
          WHERE r.job_id = NEW.id AND r.batch_id IS NOT NULL GROUP BY r.batch_id) q
    WHERE b.id = q.batch_id AND b.ended_jobs IS NOT NULL
    RETURNING b.id, b.size, b.ended_jobs, b.succeeded_jobs, q.n
  )
  SELECT array_agg(c.id) INTO batches FROM counted c
  WHERE c.ended_jobs = c.size OR c.ended_jobs - c.succeeded_jobs = c.n;
  IF batches IS NULL AND NOT EXISTS (
      SELECT 1 FROM job_dependencies e WHERE e.parent_job_id = NEW.id) THEN
    RETURN NULL;
  END IF;
  PERFORM settle_waiting(ARRAY(
    SELECT e.job_id FROM job_dependencies e WHERE e.parent_job_id = NEW.id
    UNION
    SELECT e.job_id FROM job_dependencies e WHERE e.parent_batch_id = ANY(batches)));
  RETURN NULL;
END
$$;
"""

_TRIGGER = (
    "CREATE TRIGGER jobs_ended AFTER UPDATE OF status ON jobs"
    f" FOR EACH ROW WHEN (NEW.status IN {ENDED} AND OLD.status NOT IN {ENDED})"
    " EXECUTE FUNCTION job_ended()"
)

# jobs_count_status (migration 0007): from here a released WAITING job is counted by
# settle_waiting, a whole release in one upsert.
LIVE = "('PENDING', 'IN_PROGRESS')"
_COUNT_STATUS = (
    "CREATE TRIGGER jobs_count_status AFTER UPDATE OF status ON jobs FOR EACH ROW"
    f" WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status IN {LIVE}"
    f" OR NEW.status IN {LIVE}){{released}}) EXECUTE FUNCTION job_loads_status_changed()"
)


def upgrade() -> None:
    # Usable once this migration's transaction commits; nothing here writes it.
    op.execute("ALTER TYPE job_status ADD VALUE IF NOT EXISTS 'WAITING' BEFORE 'PENDING'")
    condition = sa.Enum("afterok", "afterany", "afternotok", name="dependency_condition")
    op.add_column("job_batches", sa.Column("ended_jobs", sa.Integer(), nullable=True))
    op.add_column("job_batches", sa.Column("succeeded_jobs", sa.Integer(), nullable=True))
    op.create_table(
        "job_dependencies",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_job_id", sa.BigInteger(), nullable=True),
        sa.Column("parent_batch_id", sa.BigInteger(), nullable=True),
        sa.Column("condition", condition, nullable=False),
        sa.CheckConstraint(
            "(parent_job_id IS NULL) <> (parent_batch_id IS NULL)",
            name=op.f("ck_job_dependencies_one_parent"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_job_dependencies_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_job_id"],
            ["jobs.id"],
            name=op.f("fk_job_dependencies_parent_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_batch_id"],
            ["job_batches.id"],
            name=op.f("fk_job_dependencies_parent_batch_id_job_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_dependencies")),
    )
    op.create_index(
        op.f("ix_job_dependencies_job_id"), "job_dependencies", ["job_id"], unique=False
    )
    op.create_index(
        "ix_job_dependencies_parent_job_id",
        "job_dependencies",
        ["parent_job_id"],
        unique=False,
        postgresql_where=sa.text("parent_job_id IS NOT NULL"),
    )
    op.create_index(
        "ix_job_dependencies_parent_batch_id",
        "job_dependencies",
        ["parent_batch_id"],
        unique=False,
        postgresql_where=sa.text("parent_batch_id IS NOT NULL"),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_workflows_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_index("ix_workflows_user_id_id", "workflows", ["user_id", "id"], unique=False)
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGER)
    op.execute("DROP TRIGGER jobs_count_status ON jobs")
    op.execute(_COUNT_STATUS.format(released=" AND CAST(OLD.status AS text) <> 'WAITING'"))


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_count_status ON jobs")
    op.execute(_COUNT_STATUS.format(released=""))
    op.execute("DROP TRIGGER jobs_ended ON jobs")
    op.execute("DROP FUNCTION job_ended()")
    op.execute("DROP FUNCTION settle_waiting(bigint[])")
    op.drop_index("ix_workflows_user_id_id", table_name="workflows")
    op.drop_table("workflows")
    op.drop_table("job_dependencies")
    op.execute("DROP TYPE dependency_condition")
    op.drop_column("job_batches", "succeeded_jobs")
    op.drop_column("job_batches", "ended_jobs")
    # WAITING cannot be stored before this revision: such jobs are PENDING again. The
    # value itself stays in job_status (PostgreSQL drops no enum value; rebuilding the
    # type would mean rebuilding every trigger and index on jobs.status), unused.
    op.execute("UPDATE jobs SET status = 'PENDING' WHERE status = 'WAITING'")
