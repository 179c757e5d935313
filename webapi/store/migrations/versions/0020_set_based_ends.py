"""set-based ends: a statement's job status changes counted in job_loads at once

The row trigger jobs_count_status updated a user's counter row once per job: ending
10,000 jobs in one statement (a batch's cancel) wrote 10,000 versions of one row, each
update walking the versions before it, and took 25 s. A statement trigger with
transition tables counts them in one update per type and user.

Revision ID: 0020
Revises: 0019

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENT_COUNT = """
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

STATEMENT_TRIGGER = (
    "CREATE TRIGGER jobs_count_status_changes AFTER UPDATE ON jobs"
    " REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs"
    " FOR EACH STATEMENT EXECUTE FUNCTION job_loads_status_changed()"
)

# As migration 0017 left them.
ROW_COUNT = """
CREATE OR REPLACE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE job_loads l SET
    pending = l.pending + (NEW.status = 'PENDING')::int - (OLD.status = 'PENDING')::int,
    running = l.running + (NEW.status = 'IN_PROGRESS')::int - (OLD.status = 'IN_PROGRESS')::int,
    waiting_since = CASE WHEN OLD.status = 'PENDING' AND NEW.status = 'IN_PROGRESS'
                         THEN now() ELSE l.waiting_since END
  WHERE l.type = NEW.type AND l.user_id = NEW.user_id;
  IF NOT FOUND AND NEW.status IN ('PENDING', 'IN_PROGRESS') THEN
    INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
    SELECT n.type, n.user_id, count(*) FILTER (WHERE n.status = 'PENDING'),
           count(*) FILTER (WHERE n.status = 'IN_PROGRESS'), u.weight, u.max_running,
           min(n.created_at) FILTER (WHERE n.status = 'PENDING')
    FROM (SELECT NEW.*) n JOIN users u ON u.id = n.user_id
    WHERE n.status IN ('PENDING', 'IN_PROGRESS')
    GROUP BY n.type, n.user_id, u.weight, u.max_running
    ORDER BY n.type, n.user_id
    ON CONFLICT (type, user_id) DO UPDATE SET
      pending = l.pending + excluded.pending, running = l.running + excluded.running,
      waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                           THEN greatest(l.waiting_since, excluded.waiting_since)
                           ELSE l.waiting_since END;
  END IF;
  RETURN NULL;
END
$$;
"""

LIVE = "('PENDING', 'IN_PROGRESS')"
ROW_TRIGGER = (
    "CREATE TRIGGER jobs_count_status AFTER UPDATE OF status ON jobs FOR EACH ROW"
    f" WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status IN {LIVE}"
    f" OR NEW.status IN {LIVE}) AND CAST(OLD.status AS text) <> 'WAITING')"
    " EXECUTE FUNCTION job_loads_status_changed()"
)


def upgrade() -> None:
    op.execute("DROP TRIGGER jobs_count_status ON jobs")
    op.execute(STATEMENT_COUNT)
    op.execute(STATEMENT_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_count_status_changes ON jobs")
    op.execute(ROW_COUNT)
    op.execute(ROW_TRIGGER)
