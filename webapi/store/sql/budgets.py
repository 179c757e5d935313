"""Budgets: each user's monthly limit (or the default's), and the month row that
serialises their submissions. ``webapi/store/budgets.py`` runs these.
"""

from __future__ import annotations

_BUDGET = "b.id, b.user_id, b.cost_limit, b.vcpu_hours_limit, b.warn_at, b.updated_at"

# The user's own budget, else the default (user_id NULL, indexed as 0): one lookup of
# uq_budgets_user. Nothing found: the user has no budget and the gate stops here.
BUDGET_OF = f"""
SELECT {_BUDGET} FROM budgets b
WHERE coalesce(b.user_id, 0) IN (:user_id, 0)
ORDER BY b.user_id NULLS LAST
LIMIT 1
"""

# One scope's own row: a user's (user_id) or the default (NULL).
BUDGET_AT = f"""
SELECT {_BUDGET} FROM budgets b WHERE coalesce(b.user_id, 0) = coalesce(:user_id, 0)
"""

LIST = f"SELECT {_BUDGET} FROM budgets b ORDER BY b.user_id NULLS FIRST"

# Set a scope's limits (a new row, or the one there); the index is on the expression.
PUT = f"""
INSERT INTO budgets AS b (user_id, cost_limit, vcpu_hours_limit, warn_at, updated_by)
VALUES (:user_id, :cost_limit, :vcpu_hours_limit, :warn_at, :actor_id)
ON CONFLICT ((coalesce(user_id, 0))) DO UPDATE
  SET cost_limit = excluded.cost_limit, vcpu_hours_limit = excluded.vcpu_hours_limit,
      warn_at = excluded.warn_at, updated_by = excluded.updated_by, updated_at = now()
RETURNING {_BUDGET}
"""

CLEAR = f"""
DELETE FROM budgets b WHERE coalesce(b.user_id, 0) = coalesce(:user_id, 0)
RETURNING {_BUDGET}
"""

# The user's month, created on its first submission, locked (FOR UPDATE through the
# conflict's update) until the submitting transaction ends: a user's submissions are
# checked one after the other, each seeing what the one before it created.
LOCK_MONTH = """
INSERT INTO budget_months AS m (user_id, month)
VALUES (:user_id, CAST(:month AS date))
ON CONFLICT (user_id, month) DO UPDATE SET user_id = excluded.user_id
RETURNING m.id, m.warned_at
"""

# The month's warning is sent once: only the first transaction to set it gets a row.
WARNED = """
UPDATE budget_months SET warned_at = now() WHERE id = :id AND warned_at IS NULL RETURNING id
"""

# The user's jobs that have not ended, per type (ix_jobs_user_status_id).
OPEN_JOBS = """
SELECT type, count(*) AS n FROM jobs
WHERE user_id = :user_id AND status IN ('WAITING', 'PENDING', 'IN_PROGRESS')
GROUP BY type ORDER BY type
"""

# budget.warning to each of the user's subscriptions that names it and has no scope
# (the others follow one job, batch or workflow). The event is one per user and month:
# its subject is the month's row. Written only when a subscription matches.
WARN_EVENT = """
WITH subscribers AS (
  SELECT w.id FROM webhooks w
  WHERE w.user_id = :user_id AND 'budget.warning' = ANY (w.events)
    AND w.job_id IS NULL AND w.batch_id IS NULL AND w.workflow_id IS NULL
), event AS (
  INSERT INTO webhook_events (kind, subject_id, status, data)
  SELECT 'budget.warning', :month_id, :state, CAST(:data AS jsonb)
  WHERE EXISTS (SELECT 1 FROM subscribers)
  RETURNING id
)
INSERT INTO webhook_deliveries (event_id, webhook_id, sequence_key)
SELECT event.id, s.id, 'budget:' || :user_id FROM event, subscribers s ORDER BY s.id
"""
