"""An attempt's lease: heartbeats extend it; a result, a release, a cancel or the
expiry sweep ends it; an unclaim undoes it, as if the claim had never been made.

The hot statements (heartbeat, complete) check everything they need in their own
``WHERE`` and run alone, without a transaction around them: one round trip each.
When they change nothing, the queue layer finds out why on the slow path
(``LOCK_ASSIGNMENT``, then the checks in ``webapi/store/queue_checks.py``).
"""

from __future__ import annotations

from webapi.store.sql.fragments import ASSIGNMENT, JOB, notify

# Locks the job an assignment belongs to; every change to a job takes this lock
# first, so heartbeat, complete, cancel and expiry never interleave on one job.
LOCK_ASSIGNMENT = f"""
SELECT {ASSIGNMENT}, {JOB}, now() AS now
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
WHERE a.id = :assignment_id
FOR UPDATE OF j
"""

# The assignment of the caller (``user_id``/``api_key_id``) and its job, locked, if
# it is live: not completed, lease not expired, within its deadline, still the
# job's attempt. Zero rows: refused, and the slow path says why.
_LIVE = """
cur AS (
  SELECT a.id AS assignment_id, a.job_id, a.deadline_at, a.storage_scheme, a.storage_uri
  FROM job_assignments a JOIN jobs j ON j.id = a.job_id
  WHERE a.id = :assignment_id
    AND a.claimed_by_user_id IS NOT DISTINCT FROM :user_id
    AND a.claimed_by_api_key_id IS NOT DISTINCT FROM :api_key_id
    AND {live}
    AND j.attempts = a.attempt AND (a.deadline_at IS NULL OR a.deadline_at > now())
  FOR UPDATE OF j
)"""

_HELD = "a.outcome IS NULL AND a.expires_at > now() AND j.status = 'IN_PROGRESS'"
_OPEN = "(a.outcome IS NULL OR a.outcome = 'EXPIRED') AND j.status IN ('PENDING', 'IN_PROGRESS')"

# A heartbeat extends the lease, but never past the attempt's deadline: once that
# passes, the lease runs out and the attempt ends like any other expired lease.
HEARTBEAT = f"""
WITH {_LIVE.format(live=_HELD)},
j AS (
  UPDATE jobs j SET lease_expires_at = least(now() + j.lease_seconds * interval '1 second',
      cur.deadline_at),
      progress = coalesce(CAST(:progress AS double precision), j.progress),
      progress_message = coalesce(CAST(:message AS text), j.progress_message), updated_at = now()
  FROM cur WHERE j.id = cur.job_id
  RETURNING j.*
), a AS (
  UPDATE job_assignments a SET expires_at = j.lease_expires_at, heartbeat_at = now(),
      updated_at = now()
  FROM j WHERE a.id = :assignment_id
  RETURNING a.expires_at
)
SELECT a.expires_at, {notify("progress", watched_only=True)} FROM a, j
"""

# The type and type revision of an assignment's job: what its result is checked against.
ASSIGNMENT_TYPE = """
SELECT j.type, j.type_revision FROM job_assignments a JOIN jobs j ON j.id = a.job_id
WHERE a.id = :assignment_id
"""

# complete(): the result row (on success), the assignment and the job in one go. A
# late result (the lease expired, nobody took the job over) is still taken.
COMPLETE = f"""
WITH {_LIVE.format(live=_OPEN)},
r AS (
  INSERT INTO job_results (job_id, assignment_id, result_payload, storage_scheme, storage_uri,
      metadata)
  SELECT cur.job_id, cur.assignment_id, CAST(:payload AS jsonb), cur.storage_scheme,
         cur.storage_uri, CAST(:metadata AS jsonb)
  FROM cur WHERE CAST(:status AS text) = 'SUCCEEDED'
), a AS (
  UPDATE job_assignments a SET completed_at = now(), updated_at = now(),
      outcome = CAST(:status AS assignment_outcome)
  FROM cur WHERE a.id = cur.assignment_id
), j AS (
  UPDATE jobs j SET status = CAST(:status AS job_status), finished_at = now(), updated_at = now(),
      lease_expires_at = NULL, error_message = CAST(:error AS text),
      progress = CASE WHEN CAST(:status AS text) = 'SUCCEEDED' THEN 1 ELSE j.progress END
  FROM cur WHERE j.id = cur.job_id
  RETURNING j.*
)
SELECT {JOB}, {notify("status", watched_only=True)} FROM j
"""

# release(): a worker that stops gracefully hands its job back; the attempt is
# not charged, and the job is claimable again at once.
RELEASE = f"""
WITH a AS (
  UPDATE job_assignments SET completed_at = now(), updated_at = now(), outcome = 'RELEASED'
  WHERE id = :assignment_id
), j AS (
  UPDATE jobs j SET status = 'PENDING', released = j.released + 1, lease_expires_at = NULL,
      updated_at = now()
  WHERE j.id = :job_id
  RETURNING j.*
)
SELECT {JOB}, {notify("status")} FROM j
"""

# release(error=...): the attempt failed for a reason outside the handler (its results
# could not be stored): the attempt is charged, and the job runs again while attempts
# remain, else it ends FAILED with the error.
RELEASE_FAILED = f"""
WITH a AS (
  UPDATE job_assignments SET completed_at = now(), updated_at = now(), outcome = 'FAILED'
  WHERE id = :assignment_id
), j AS (
  UPDATE jobs j SET
      status = CASE WHEN j.attempts - j.released >= j.max_attempts
                    THEN 'FAILED' ELSE 'PENDING' END::job_status,
      finished_at = CASE WHEN j.attempts - j.released >= j.max_attempts THEN now() END,
      error_message = CAST(:error AS text), lease_expires_at = NULL, updated_at = now()
  WHERE j.id = :job_id
  RETURNING j.*
)
SELECT {JOB}, {notify("status")} FROM j
"""

# unclaim(): a claim whose answer never reached its worker (the client had gone) is
# undone as if never made: the assignment is deleted and the job is PENDING again
# with the attempt given back, so nothing is charged, and the next claimer is woken.
# Only an untouched claim is undone: no heartbeat, no outcome (a cancel came first),
# still the job's newest attempt.
UNCLAIM = f"""
WITH a AS (
  SELECT a.id, a.job_id, a.storage_uri FROM job_assignments a JOIN jobs j ON j.id = a.job_id
  WHERE a.id = ANY(:assignment_ids) AND a.outcome IS NULL AND a.heartbeat_at IS NULL
    AND j.status = 'IN_PROGRESS' AND j.attempts = a.attempt
  FOR UPDATE OF j
), gone AS (
  DELETE FROM job_assignments d USING a WHERE d.id = a.id
), j AS (
  UPDATE jobs j SET status = 'PENDING', attempts = j.attempts - 1, lease_expires_at = NULL,
      started_at = CASE WHEN j.attempts = 1 THEN NULL ELSE j.started_at END, updated_at = now()
  FROM a WHERE j.id = a.job_id
  RETURNING j.*
)
SELECT a.storage_uri, {notify("status")} FROM j JOIN a ON a.job_id = j.id
"""

# The deleted assignment's trigger queued its files for deletion; there are none, and
# the next attempt gets the same storage location: take them off the queue again.
KEEP_UNCLAIMED_FILES = """
DELETE FROM storage_deletions WHERE storage_uri = ANY(:uris) AND created_at = now()
"""

LOCK_JOB = f"SELECT {JOB} FROM jobs j WHERE j.id = :job_id FOR UPDATE"

# Cancels jobs the caller has locked (a job, or the rest of a batch); their holders
# learn it at their next heartbeat.
CANCEL = f"""
WITH a AS (
  UPDATE job_assignments SET completed_at = now(), updated_at = now(), outcome = 'CANCELLED'
  WHERE job_id = ANY(:job_ids) AND completed_at IS NULL
), j AS (
  UPDATE jobs j SET status = 'CANCELLED', finished_at = now(), updated_at = now(),
      lease_expires_at = NULL
  WHERE j.id = ANY(:job_ids)
  RETURNING j.*
)
SELECT {JOB}, {notify("status")} FROM j
"""

# The sweep: expired leases go back to PENDING while attempts remain, else the
# job is TIMED_OUT. Batched and SKIP LOCKED, so it is cheap and never blocks.
EXPIRE = f"""
WITH expired AS (
  SELECT id FROM jobs
  WHERE status = 'IN_PROGRESS' AND lease_expires_at < now()
  ORDER BY lease_expires_at LIMIT :batch
  FOR UPDATE SKIP LOCKED
), j AS (
  UPDATE jobs j SET
      status = CASE WHEN j.attempts - j.released >= j.max_attempts
                    THEN 'TIMED_OUT' ELSE 'PENDING' END::job_status,
      finished_at = CASE WHEN j.attempts - j.released >= j.max_attempts THEN now() END,
      error_message = CASE WHEN j.attempts - j.released >= j.max_attempts
          THEN CASE WHEN EXISTS (SELECT 1 FROM job_assignments d
                                     WHERE d.job_id = j.id AND d.completed_at IS NULL
                                       AND d.deadline_at <= now())
                    THEN 'ran past its run-time limit of ' || j.timeout_seconds || ' s'
                    ELSE 'lease expired' END
               || ' on the last of ' || j.max_attempts || ' attempts' END,
      lease_expires_at = NULL, updated_at = now()
  FROM expired WHERE j.id = expired.id
  RETURNING j.*
), closed AS (
  UPDATE job_assignments a SET completed_at = now(), updated_at = now(), outcome = 'EXPIRED'
  FROM j WHERE a.job_id = j.id AND a.completed_at IS NULL
)
SELECT j.type, j.status, {notify("status")} FROM j
"""
