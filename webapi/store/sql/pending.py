"""Why a PENDING job waits: what one statement reads for its single-job record.

Read only for a PENDING job on a single-job read (never for lists), so its cost is
bounded: the jobs ahead are counted on the claim's partial index
(``ix_jobs_pending_type_created``) and stop at ``:bound``; the user's load is one
``job_loads`` row and its stripes; the fleet is the manager's last report (``compute_state``), whose
workers are counted in the database rather than shipped to Python.
"""

from __future__ import annotations

# ``ahead``: PENDING jobs of the type older than this one, up to ``:bound``.
# ``running`` / ``max_running``: the owner's running jobs of the type and their limit.
# ``of_type_*``: the reported workers that serve the type, by status; ``live``: the
# fleet's workers that are not stopping; ``desired``: the local backend's cap (null
# when an admin never set it); ``fleet_at``: when the manager last reported.
PENDING_FACTS = """
WITH fleet AS (
  SELECT value, updated_at FROM compute_state WHERE name = :fleet
), workers AS (
  SELECT w->>'status' AS status, coalesce(w->'jobTypes' ? :type, false) AS serves
  FROM fleet CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(fleet.value->'workers') = 'array'
         THEN fleet.value->'workers' ELSE '[]'::jsonb END) AS w
)
SELECT
  (SELECT count(*) FROM (
     SELECT 1 FROM jobs p
     WHERE p.status = 'PENDING' AND p.type = :type
       AND (p.created_at, p.id) < (CAST(:created_at AS timestamptz), CAST(:id AS bigint))
     ORDER BY p.created_at DESC, p.id DESC  -- back along the index from the job: no scan
     LIMIT :bound) ahead) AS ahead,
  (SELECT running FROM job_loads WHERE type = :type AND user_id = :user_id)
    + (SELECT coalesce(sum(running), 0) FROM job_load_stripes
       WHERE user_id = :user_id AND type = :type) AS running,
  (SELECT max_running FROM job_loads WHERE type = :type AND user_id = :user_id) AS max_running,
  (SELECT count(*) FROM workers WHERE serves AND status = 'RUNNING') AS of_type_running,
  (SELECT count(*) FROM workers WHERE serves AND status = 'STARTING') AS of_type_starting,
  (SELECT count(*) FROM workers WHERE status <> 'STOPPING') AS live,
  (SELECT CAST(value->>'desiredCount' AS integer) FROM compute_state WHERE name = :local)
    AS desired,
  (SELECT updated_at FROM fleet) AS fleet_at
"""
