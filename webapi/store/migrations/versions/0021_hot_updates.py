"""hot updates: counters striped per backend, room on the pages of the hot tables

A claim and a result each wrote the user's one job_loads row, so concurrent claims and
results of one user queued on that row's lock until each commit. A change the claim
need not see at once now goes to one of the user's stripes in job_load_stripes when
that row is busy (job_loads_status_changed, webapi/store/functions.sql); a user's
counts are job_loads' plus its stripes'. A stripe has no index but its key, so its
updates are heap-only. The counters leave free space on each page (fillfactor), so an
update's new row version fits beside the old one.

Revision ID: 0021
Revises: 0020

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTORS = {"job_loads": 50}

STRIPED_COUNT = """
CREATE OR REPLACE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each job's old and new status paired by grouping, not by a join: the plan is kept
  -- from the first call, and one made for a one-job update joined 10,000 old rows with
  -- 10,000 new ones by a nested loop (14 s).
  WITH side AS (
    SELECT o.id, o.type, o.user_id, o.status AS old, NULL AS new, NULL AS created_at
    FROM old_jobs o
    UNION ALL
    SELECT n.id, n.type, n.user_id, NULL, n.status, n.created_at FROM new_jobs n
  ), job AS (
    SELECT s.type, s.user_id, max(s.old) AS old, max(s.new) AS new,
           max(s.created_at) AS created_at
    FROM side s GROUP BY s.id, s.type, s.user_id
    HAVING count(s.old) > 0 AND count(s.new) > 0  -- in both tables, as a join would pair
  ), moved AS (
    SELECT j.type, j.user_id,
           sum((j.new = 'PENDING')::int - (j.old = 'PENDING')::int) AS pending,
           sum((j.new = 'IN_PROGRESS')::int - (j.old = 'IN_PROGRESS')::int) AS running,
           bool_or(j.old = 'PENDING' AND j.new = 'IN_PROGRESS') AS served,
           count(*) FILTER (WHERE j.new = 'PENDING') AS now_pending,
           count(*) FILTER (WHERE j.new = 'IN_PROGRESS') AS now_running,
           min(j.created_at) FILTER (WHERE j.new = 'PENDING') AS pending_since
    FROM job j
    WHERE j.old IS DISTINCT FROM j.new
      AND (j.old IN ('PENDING', 'IN_PROGRESS') OR j.new IN ('PENDING', 'IN_PROGRESS'))
      AND CAST(j.old AS text) <> 'WAITING'
    GROUP BY j.type, j.user_id
  ), spare AS (
    -- The rows free now among those a change may pass by, locked without waiting.
    SELECT l.type, l.user_id FROM job_loads l JOIN moved m
      ON l.type = m.type AND l.user_id = m.user_id
    WHERE m.pending <= 0 AND (m.running <= 0 OR l.max_running IS NULL)
    ORDER BY l.type, l.user_id
    FOR UPDATE OF l SKIP LOCKED
  ), counted AS (
    UPDATE job_loads l SET
      pending = l.pending + m.pending,
      running = l.running + m.running,
      waiting_since = CASE WHEN m.served THEN now() ELSE l.waiting_since END
    FROM moved m
    WHERE l.type = m.type AND l.user_id = m.user_id
      AND (m.pending > 0 OR (m.running > 0 AND l.max_running IS NOT NULL)
           OR EXISTS (SELECT 1 FROM spare s WHERE s.type = l.type AND s.user_id = l.user_id))
    RETURNING l.type, l.user_id
  ), striped AS (
    INSERT INTO job_load_stripes AS s (user_id, type, stripe, pending, running, waiting_since)
    SELECT m.user_id, m.type, mod(pg_backend_pid(), 16), m.pending, m.running,
           CASE WHEN m.served THEN now() END
    FROM moved m
    WHERE EXISTS (SELECT 1 FROM job_loads l WHERE l.type = m.type AND l.user_id = m.user_id)
      AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.type = m.type AND c.user_id = m.user_id)
    ORDER BY m.user_id, m.type
    ON CONFLICT (user_id, type, stripe) DO UPDATE SET
      pending = s.pending + excluded.pending, running = s.running + excluded.running,
      waiting_since = coalesce(excluded.waiting_since, s.waiting_since)
    RETURNING s.type, s.user_id
  )
  INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
  SELECT m.type, m.user_id, m.now_pending, m.now_running, u.weight, u.max_running,
         m.pending_since
  FROM moved m JOIN users u ON u.id = m.user_id
  WHERE m.now_pending + m.now_running > 0
    AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.type = m.type AND c.user_id = m.user_id)
    AND NOT EXISTS (SELECT 1 FROM striped c WHERE c.type = m.type AND c.user_id = m.user_id)
  ORDER BY m.type, m.user_id
  ON CONFLICT (type, user_id) DO UPDATE SET
    pending = l.pending + excluded.pending, running = l.running + excluded.running,
    waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                         THEN greatest(l.waiting_since, excluded.waiting_since)
                         ELSE l.waiting_since END;
  RETURN NULL;
END
$$;
"""

# As migration 0020 left it.
STATEMENT_COUNT = """
CREATE OR REPLACE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH side AS (
    SELECT o.id, o.type, o.user_id, o.status AS old, NULL AS new, NULL AS created_at
    FROM old_jobs o
    UNION ALL
    SELECT n.id, n.type, n.user_id, NULL, n.status, n.created_at FROM new_jobs n
  ), job AS (
    SELECT s.type, s.user_id, max(s.old) AS old, max(s.new) AS new,
           max(s.created_at) AS created_at
    FROM side s GROUP BY s.id, s.type, s.user_id
    HAVING count(s.old) > 0 AND count(s.new) > 0
  ), moved AS (
    SELECT j.type, j.user_id,
           sum((j.new = 'PENDING')::int - (j.old = 'PENDING')::int) AS pending,
           sum((j.new = 'IN_PROGRESS')::int - (j.old = 'IN_PROGRESS')::int) AS running,
           bool_or(j.old = 'PENDING' AND j.new = 'IN_PROGRESS') AS served,
           count(*) FILTER (WHERE j.new = 'PENDING') AS now_pending,
           count(*) FILTER (WHERE j.new = 'IN_PROGRESS') AS now_running,
           min(j.created_at) FILTER (WHERE j.new = 'PENDING') AS pending_since
    FROM job j
    WHERE j.old IS DISTINCT FROM j.new
      AND (j.old IN ('PENDING', 'IN_PROGRESS') OR j.new IN ('PENDING', 'IN_PROGRESS'))
      AND CAST(j.old AS text) <> 'WAITING'
    GROUP BY j.type, j.user_id
  ), counted AS (
    UPDATE job_loads l SET
      pending = l.pending + m.pending,
      running = l.running + m.running,
      waiting_since = CASE WHEN m.served THEN now() ELSE l.waiting_since END
    FROM moved m
    WHERE l.type = m.type AND l.user_id = m.user_id
    RETURNING l.type, l.user_id
  )
  INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
  SELECT m.type, m.user_id, m.now_pending, m.now_running, u.weight, u.max_running,
         m.pending_since
  FROM moved m JOIN users u ON u.id = m.user_id
  WHERE m.now_pending + m.now_running > 0
    AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.type = m.type AND c.user_id = m.user_id)
  ORDER BY m.type, m.user_id
  ON CONFLICT (type, user_id) DO UPDATE SET
    pending = l.pending + excluded.pending, running = l.running + excluded.running,
    waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                         THEN greatest(l.waiting_since, excluded.waiting_since)
                         ELSE l.waiting_since END;
  RETURN NULL;
END
$$;
"""

# The stripes' counts moved back into job_loads, before the stripes go.
FOLD = """
UPDATE job_loads l SET pending = l.pending + s.pending, running = l.running + s.running,
    waiting_since = greatest(l.waiting_since, s.waiting_since)
FROM (SELECT type, user_id, sum(pending) AS pending, sum(running) AS running,
             max(waiting_since) AS waiting_since
      FROM job_load_stripes GROUP BY type, user_id) s
WHERE l.type = s.type AND l.user_id = s.user_id
"""


def upgrade() -> None:
    op.create_table(
        "job_load_stripes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("stripe", sa.SmallInteger(), nullable=False),
        sa.Column("pending", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("running", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_job_load_stripes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "type", "stripe", name=op.f("pk_job_load_stripes")),
        postgresql_with={"fillfactor": 50},
    )
    op.drop_constraint(op.f("ck_job_loads_counts_non_negative"), "job_loads", type_="check")
    op.create_check_constraint(op.f("ck_job_loads_pending_non_negative"), "job_loads", "pending >= 0")
    for table, fillfactor in FILLFACTORS.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")
    op.execute(STRIPED_COUNT)


def downgrade() -> None:
    op.execute(STATEMENT_COUNT)
    op.execute(FOLD)
    for table in FILLFACTORS:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.drop_constraint(op.f("ck_job_loads_pending_non_negative"), "job_loads", type_="check")
    op.create_check_constraint(
        op.f("ck_job_loads_counts_non_negative"), "job_loads", "pending >= 0 AND running >= 0"
    )
    op.drop_table("job_load_stripes")
