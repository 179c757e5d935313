"""usage: each attempt's size and capacity, an hourly rollup, and the price table

Every attempt records the task size it ran on (vCPU, memory GB) and its capacity
(on-demand, Spot, local). The statement trigger usage_attempts_ended adds the
attempts a statement ends to usage_hours, in that statement's transaction, so the
reports read a few rows per hour instead of every attempt. prices turns vCPU-hours
and GB-hours into money, per region and capacity; it starts with AWS Fargate's
public Linux/x86 prices. The web API's housekeeping folds the rollup's past days into
a row per day (stripe -1) and adds them to usage_months and usage_user_days, which
the long reports read.

Revision ID: 0022
Revises: 0020

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAPACITY = postgresql.ENUM("on_demand", "spot", "local", name="capacity", create_type=False)

ATTEMPTS_ENDED = """
CREATE OR REPLACE FUNCTION usage_attempts_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH side AS (
    SELECT o.id, NULL::bigint AS job_id, NULL::timestamptz AS started,
           NULL::timestamptz AS ended, NULL::numeric AS vcpu, NULL::numeric AS memory_gb,
           NULL::text AS capacity
    FROM old_assignments o WHERE o.completed_at IS NULL
    UNION ALL
    SELECT n.id, n.job_id, n.created_at, n.completed_at, n.vcpu, n.memory_gb, n.capacity::text
    FROM new_assignments n WHERE n.completed_at IS NOT NULL
  ), ended AS (
    SELECT s.id, max(s.job_id) AS job_id, max(s.started) AS started, max(s.ended) AS ended,
           max(s.vcpu) AS vcpu, max(s.memory_gb) AS memory_gb, max(s.capacity) AS capacity
    FROM side s GROUP BY s.id
    HAVING count(*) = 2  -- open before the statement, ended by it
  ), rolled AS (
    SELECT date_trunc('hour', e.ended, 'UTC') AS hour, j.user_id, j.type,
           coalesce((SELECT q.batch_id FROM job_requests q
                     WHERE q.job_id = j.id AND NOT q.cache_hit AND q.batch_id IS NOT NULL
                     ORDER BY q.id LIMIT 1), 0) AS batch_id,
           CAST(e.capacity AS capacity) AS capacity, count(*) AS attempts,
           sum(r.run) AS run_seconds, sum(r.run * e.vcpu) AS vcpu_seconds,
           sum(r.run * e.memory_gb) AS gb_seconds
    FROM ended e JOIN jobs j ON j.id = e.job_id
    CROSS JOIN LATERAL (SELECT extract(epoch FROM e.ended - e.started) AS run) r
    GROUP BY 1, 2, 3, 4, 5
  )
  INSERT INTO usage_hours AS u (hour, user_id, type, batch_id, capacity, stripe, attempts,
                                run_seconds, vcpu_seconds, gb_seconds)
  SELECT r.hour, r.user_id, r.type, r.batch_id, r.capacity, mod(pg_backend_pid(), 8), r.attempts,
         r.run_seconds, r.vcpu_seconds, r.gb_seconds
  FROM rolled r
  ORDER BY r.hour, r.user_id, r.type, r.batch_id, r.capacity
  ON CONFLICT (hour, user_id, type, batch_id, capacity, stripe) DO UPDATE SET
    attempts = u.attempts + excluded.attempts,
    run_seconds = u.run_seconds + excluded.run_seconds,
    vcpu_seconds = u.vcpu_seconds + excluded.vcpu_seconds,
    gb_seconds = u.gb_seconds + excluded.gb_seconds;
  RETURN NULL;
END
$$
"""

ATTEMPTS_ENDED_TRIGGER = (
    "CREATE TRIGGER job_assignments_usage AFTER UPDATE ON job_assignments"
    " REFERENCING OLD TABLE AS old_assignments NEW TABLE AS new_assignments"
    " FOR EACH STATEMENT EXECUTE FUNCTION usage_attempts_ended()"
)

# The attempts that ended before this revision, at the sizes it gives them.
BACKFILL = """
INSERT INTO usage_hours (hour, user_id, type, batch_id, capacity, stripe, attempts,
                         run_seconds, vcpu_seconds, gb_seconds)
SELECT date_trunc('hour', a.completed_at, 'UTC'), j.user_id, j.type,
       coalesce((SELECT q.batch_id FROM job_requests q
                 WHERE q.job_id = j.id AND NOT q.cache_hit AND q.batch_id IS NOT NULL
                 ORDER BY q.id LIMIT 1), 0),
       a.capacity, 0, count(*), sum(r.run), sum(r.run * a.vcpu), sum(r.run * a.memory_gb)
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
CROSS JOIN LATERAL (SELECT extract(epoch FROM a.completed_at - a.created_at) AS run) r
WHERE a.completed_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
"""

# AWS Fargate, Linux/x86, USD per vCPU-hour and per GB-hour (docs/accounting.md says
# where from). Spot is priced at 30% of on-demand (AWS: "up to a 70% discount"); local
# workers as on-demand.
SEED_PRICES = """
INSERT INTO prices (region, capacity, vcpu_hour, gb_hour)
SELECT p.region, c.capacity::capacity, p.vcpu_hour * c.factor, p.gb_hour * c.factor
FROM (VALUES ('us-east-1', 0.04048, 0.004445), ('us-east-2', 0.04048, 0.004445),
             ('us-west-2', 0.04048, 0.004445), ('eu-west-1', 0.04048, 0.004445),
             ('eu-central-1', 0.04656, 0.00511), ('ap-southeast-2', 0.04856, 0.00532))
     AS p(region, vcpu_hour, gb_hour)
CROSS JOIN (VALUES ('on_demand', 1.0), ('spot', 0.3), ('local', 1.0)) AS c(capacity, factor)
"""


def _figures() -> list[sa.Column[object]]:
    return [
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("run_seconds", sa.Numeric(), nullable=False),
        sa.Column("vcpu_seconds", sa.Numeric(), nullable=False),
        sa.Column("gb_seconds", sa.Numeric(), nullable=False),
    ]


def upgrade() -> None:
    CAPACITY.create(op.get_bind())
    op.execute("ALTER TYPE audit_action ADD VALUE IF NOT EXISTS 'PRICE_CHANGED'")
    op.add_column(
        "job_assignments",
        sa.Column("vcpu", sa.Numeric(6, 3), server_default=sa.text("1"), nullable=False),
    )
    op.add_column(
        "job_assignments",
        sa.Column("memory_gb", sa.Numeric(7, 3), server_default=sa.text("2"), nullable=False),
    )
    op.add_column(
        "job_assignments",
        sa.Column("capacity", CAPACITY, server_default=sa.text("'on_demand'"), nullable=False),
    )
    op.create_table(
        "usage_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("capacity", CAPACITY, nullable=False),
        sa.Column("stripe", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("run_seconds", sa.Numeric(), nullable=False),
        sa.Column("vcpu_seconds", sa.Numeric(), nullable=False),
        sa.Column("gb_seconds", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "user_id", "type", "batch_id", "capacity", "stripe", name=op.f("pk_usage_hours")
        ),
    )
    op.create_index("ix_usage_hours_user_id_hour", "usage_hours", ["user_id", "hour"])
    op.create_index(
        "ix_usage_hours_batch_id",
        "usage_hours",
        ["batch_id"],
        postgresql_where=sa.text("batch_id <> 0"),
    )
    op.create_index(
        "ix_usage_hours_unfolded", "usage_hours", ["hour"], postgresql_where=sa.text("stripe >= 0")
    )
    op.create_index(
        "ix_usage_hours_unfolded_user_id",
        "usage_hours",
        ["user_id", "hour"],
        postgresql_where=sa.text("stripe >= 0"),
    )
    op.create_table(
        "usage_months",
        sa.Column("month", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("capacity", CAPACITY, nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint(
            "month", "user_id", "type", "batch_id", "capacity", name=op.f("pk_usage_months")
        ),
    )
    op.create_index("ix_usage_months_user_id_month", "usage_months", ["user_id", "month"])
    op.create_table(
        "usage_user_days",
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("capacity", CAPACITY, nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("day", "user_id", "capacity", name=op.f("pk_usage_user_days")),
    )
    op.create_index("ix_usage_user_days_user_id_day", "usage_user_days", ["user_id", "day"])
    op.create_table(
        "prices",
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("capacity", CAPACITY, nullable=False),
        sa.Column("vcpu_hour", sa.Numeric(12, 8), nullable=False),
        sa.Column("gb_hour", sa.Numeric(12, 8), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("vcpu_hour >= 0 AND gb_hour >= 0", name=op.f("ck_prices_not_negative")),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_prices_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("region", "capacity", name=op.f("pk_prices")),
    )
    # The estimate's recent run times: a type's latest succeeded jobs.
    op.create_index(
        "ix_jobs_succeeded_type_finished_at",
        "jobs",
        ["type", "finished_at"],
        postgresql_where=sa.text("status = 'SUCCEEDED'"),
    )
    op.execute(SEED_PRICES)
    op.execute(BACKFILL)
    op.execute(ATTEMPTS_ENDED)
    op.execute(ATTEMPTS_ENDED_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER job_assignments_usage ON job_assignments")
    op.execute("DROP FUNCTION usage_attempts_ended()")
    op.drop_index("ix_jobs_succeeded_type_finished_at", table_name="jobs")
    op.drop_table("prices")
    op.drop_table("usage_user_days")
    op.drop_table("usage_months")
    op.drop_index("ix_usage_hours_unfolded_user_id", table_name="usage_hours")
    op.drop_index("ix_usage_hours_unfolded", table_name="usage_hours")
    op.drop_index("ix_usage_hours_batch_id", table_name="usage_hours")
    op.drop_index("ix_usage_hours_user_id_hour", table_name="usage_hours")
    op.drop_table("usage_hours")
    op.drop_column("job_assignments", "capacity")
    op.drop_column("job_assignments", "memory_gb")
    op.drop_column("job_assignments", "vcpu")
    CAPACITY.drop(op.get_bind())
    # audit_action keeps PRICE_CHANGED: PostgreSQL cannot drop an enum value.
