"""What the API hears from each worker (``workers``, by the ``ecsTaskArn`` it claims
with): claims record until when it is alive, the manager asks how long each has been
silent, and rows not heard from for a day go. Declaring a worker lost is the queue's
(``lease.LOSE_WORKER``), since it ends attempts.
"""

from __future__ import annotations

# A claim that may wait ``:wait`` seconds shows its worker alive until then.
TOUCH = """
INSERT INTO workers AS w (identity, claimed_at, contact_until)
VALUES (:identity, now(), now() + CAST(:wait AS double precision) * interval '1 second')
ON CONFLICT (identity) DO UPDATE
SET claimed_at = EXCLUDED.claimed_at,
    contact_until = greatest(w.contact_until, EXCLUDED.contact_until)
"""

# How long each worker has been silent (0 while a claim of it may still be waiting),
# by the database's clock: since its claims' wait ended, or since its newest live
# attempt's heartbeat (or start); NULL when it was never heard from. A claim that
# returned with a job (one assigned since it started) shows nothing past that job, so
# a worker that froze on its new job is silent from then, not from the claim's wait.
# Live attempts are found through the IN_PROGRESS jobs (a small partial index), not
# by scanning job_assignments.
CONTACTS = """
WITH asked AS (
  SELECT DISTINCT identity FROM unnest(CAST(:identities AS text[])) AS i(identity)
), beats AS (
  SELECT a.ecs_task_arn AS identity, max(greatest(a.heartbeat_at, a.created_at)) AS at,
         max(a.created_at) AS assigned_at
  FROM jobs j JOIN job_assignments a ON a.job_id = j.id AND a.attempt = j.attempts
  WHERE j.status = 'IN_PROGRESS' AND a.ecs_task_arn = ANY(CAST(:identities AS text[]))
  GROUP BY a.ecs_task_arn
)
SELECT q.identity,
       CASE WHEN heard.at IS NOT NULL
            THEN greatest(0, extract(epoch FROM now() - heard.at)) END AS silent_seconds,
       w.lost_at IS NOT NULL AS lost
FROM asked q
LEFT JOIN workers w ON w.identity = q.identity
LEFT JOIN beats b ON b.identity = q.identity
CROSS JOIN LATERAL (
  SELECT CASE WHEN b.assigned_at >= w.claimed_at THEN b.at
              ELSE greatest(w.contact_until, b.at) END AS at
) heard
"""

# Workers not heard from for a day are forgotten (the manager judges silence in
# seconds; an expiry judges a lost worker's late attempts within a lease).
FORGET = """
DELETE FROM workers
WHERE contact_until < now() - interval '1 day'
  AND (lost_at IS NULL OR lost_at < now() - interval '1 day')
"""
