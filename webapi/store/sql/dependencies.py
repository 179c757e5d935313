"""Dependencies: jobs that wait (WAITING) for jobs or whole batches to end.

Judging and releasing waiting jobs is the database's own code, ``settle_waiting`` and
the trigger ``job_ended`` (``webapi/store/functions.sql``): every statement that ends a
job runs it in its own transaction. What is here makes dependencies and reads them.

A new dependent first locks its parents (``LOCK_PARENTS``, FOR SHARE: a parent cannot
end until the dependent is written and committed, and one that ended before is seen
ended); then its edges are written, its batch parents counted, and it is settled once
(``SETTLE``), so one whose dependencies are already met is PENDING at once.
"""

from __future__ import annotations

from webapi.store.sql.fragments import notify

_ENDED = "('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"

# The job parents, and every live job of the batch parents, locked FOR SHARE in id order:
# a job that ends takes its row FOR NO KEY UPDATE, so it waits for the submit to commit.
LOCK_PARENTS = f"""
SELECT j.id FROM jobs j
WHERE j.id = ANY(CAST(:job_ids AS bigint[]))
   OR j.id IN (SELECT q.job_id FROM job_requests q
               WHERE q.batch_id = ANY(CAST(:batch_ids AS bigint[])))
      AND j.status NOT IN {_ENDED}
ORDER BY j.id FOR SHARE
"""

# Who owns the parents: the submitter must be able to read each.
PARENT_OWNERS = """
SELECT 'job' AS kind, j.id, j.user_id FROM jobs j WHERE j.id = ANY(CAST(:job_ids AS bigint[]))
UNION ALL
SELECT 'batch', b.id, b.user_id FROM job_batches b
WHERE b.id = ANY(CAST(:batch_ids AS bigint[]))
"""

# Every dependent gets every dependency (``:dependencies``: JSON [{job, batch, condition}]).
INSERT_DEPENDENCIES = """
INSERT INTO job_dependencies (job_id, parent_job_id, parent_batch_id, condition)
SELECT d.id, x.job, x.batch, CAST(x.condition AS dependency_condition)
FROM unnest(CAST(:job_ids AS bigint[])) AS d(id)
CROSS JOIN jsonb_to_recordset(CAST(:dependencies AS jsonb)) AS x(job bigint, batch bigint,
    condition text)
ORDER BY d.id
"""

# A batch parent's counts, the first time something depends on it (its live jobs are
# locked: exact); ``job_ended`` keeps them from then on. An input whose job is gone
# (pruned after it ended) counts as ended, not succeeded.
COUNT_BATCHES = f"""
UPDATE job_batches b SET ended_jobs = b.size - c.live, succeeded_jobs = c.ok
FROM (
  SELECT i.id, count(j.id) FILTER (WHERE j.status NOT IN {_ENDED}) AS live,
         count(j.id) FILTER (WHERE j.status = 'SUCCEEDED') AS ok
  FROM unnest(CAST(:batch_ids AS bigint[])) AS i(id)
  LEFT JOIN job_requests q ON q.batch_id = i.id
  LEFT JOIN jobs j ON j.id = q.job_id
  GROUP BY i.id
) c
WHERE b.id = c.id AND b.ended_jobs IS NULL
"""

# Release or cancel the given WAITING jobs whose dependencies are decided (functions.sql).
SETTLE = "SELECT settle_waiting(CAST(:job_ids AS bigint[]))"

# Cancelling jobs (``:job_ids``, and the batches ``:batch_ids``) cancels every WAITING
# job downstream of them, through job and batch dependencies, with ``:reason``. The walk
# goes over jobs and batches alike, each step by an index (one join with ``OR`` could use
# none: a batch's cancel scanned every dependency once per job, 13 s at 10,000), and a
# batch is reached once however many of its jobs lead to it. The starting jobs are not
# downstream unless a path leads back to one.
_DOWNSTREAM = """
WITH RECURSIVE node(job_id, batch_id, start) AS (
  SELECT CAST(x AS bigint), CAST(NULL AS bigint), true FROM unnest(CAST(:job_ids AS bigint[])) x
  UNION ALL
  SELECT NULL, CAST(x AS bigint), true FROM unnest(CAST(:batch_ids AS bigint[])) x
  UNION
  SELECT n.job_id, n.batch_id, false FROM node d
  CROSS JOIN LATERAL (
    SELECT e.job_id, CAST(NULL AS bigint) AS batch_id FROM job_dependencies e
    WHERE e.parent_job_id = d.job_id
    UNION ALL
    SELECT NULL, q.batch_id FROM job_requests q
    WHERE q.job_id = d.job_id AND q.batch_id IS NOT NULL
    UNION ALL
    SELECT e.job_id, NULL FROM job_dependencies e WHERE e.parent_batch_id = d.batch_id
  ) n
), down(id) AS (
  SELECT n.job_id FROM node n WHERE NOT n.start AND n.job_id IS NOT NULL
)"""
CANCEL_DOWNSTREAM = f"""
{_DOWNSTREAM}, locked AS (
  SELECT j.id FROM jobs j WHERE j.id IN (SELECT id FROM down) AND j.status = 'WAITING'
  ORDER BY j.id FOR UPDATE
)
UPDATE jobs j SET status = 'CANCELLED', finished_at = now(), updated_at = now(),
    error_message = CAST(:reason AS text)
FROM locked WHERE j.id = locked.id
RETURNING j.id, {notify("status")}
"""

HAS_DEPENDENCIES = "SELECT EXISTS (SELECT 1 FROM job_dependencies WHERE job_id = :job_id)"

# A job's dependencies, each with its parent's state: a job's status, a batch's counts.
DEPENDENCIES_OF = """
SELECT e.parent_job_id AS job_id, e.parent_batch_id AS batch_id, e.condition,
       p.status AS status, p.type AS type, b.size, b.ended_jobs, b.succeeded_jobs
FROM job_dependencies e
LEFT JOIN jobs p ON p.id = e.parent_job_id
LEFT JOIN job_batches b ON b.id = e.parent_batch_id
WHERE e.job_id = :job_id
ORDER BY e.id
"""

# What ``{"$from": {"batch": ID}}`` resolves to: each input's job, status and result.
BATCH_RESULTS = """
SELECT j.id AS job_id, j.status, r.result_payload AS payload, r.storage_uri
FROM job_requests q JOIN jobs j ON j.id = q.job_id
LEFT JOIN job_results r ON r.job_id = j.id AND j.status = 'SUCCEEDED'
WHERE q.batch_id = :batch_id
ORDER BY q.id
"""

# What ``{"$from": {"job": ID}}`` resolves to: its status and result.
JOB_RESULT = """
SELECT j.id AS job_id, j.status, r.result_payload AS payload, r.storage_uri
FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id AND j.status = 'SUCCEEDED'
WHERE j.id = :job_id
"""
