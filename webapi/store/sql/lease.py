"""An attempt's lease: heartbeats extend it; a result, a release, a cancel or the
expiry sweep ends it; an unclaim undoes it, as if the claim had never been made.

The hot statements (heartbeat, complete) check everything they need in their own
``WHERE`` and run alone, without a transaction around them: one round trip each.
When they change nothing, the queue layer finds out why on the slow path
(``LOCK_ASSIGNMENT``, then the checks in ``webapi/store/queue_checks.py``).
"""

from __future__ import annotations

from webapi.store.sql.fragments import ASSIGNMENT, JOB, lease_over, notify, type_setting

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

# Held: not ended, and its lease not over (``lease_over``: a database restart's grace).
_HELD = f"a.outcome IS NULL AND NOT ({lease_over('j.')}) AND j.status = 'IN_PROGRESS'"
_OPEN = (
    "(a.outcome IS NULL OR a.outcome IN ('EXPIRED', 'LOST'))"
    " AND j.status IN ('PENDING', 'IN_PROGRESS')"
)

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
# late result (the lease expired or its worker was declared lost, and nobody took
# the job over) is still taken.
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

# complete_many(): several results in one statement, each checked as ``COMPLETE``
# checks its one (``_LIVE``, ``_OPEN``), and each answered on its own: an id missing
# from the answer was refused and the slow path says why. The jobs are locked in id
# order, so two batches that share jobs never deadlock; an assignment appears once.
COMPLETE_MANY = f"""
WITH given AS (
  SELECT * FROM unnest(CAST(:assignment_ids AS bigint[]), CAST(:statuses AS text[]),
      CAST(:payloads AS text[]), CAST(:errors AS text[]), CAST(:metadata AS text[]))
    AS g(assignment_id, status, payload, error, metadata)
), cur AS (
  SELECT a.id AS assignment_id, a.job_id, a.storage_scheme, a.storage_uri, g.status,
         g.payload, g.error, g.metadata
  FROM given g JOIN job_assignments a ON a.id = g.assignment_id JOIN jobs j ON j.id = a.job_id
  WHERE a.claimed_by_user_id IS NOT DISTINCT FROM :user_id
    AND a.claimed_by_api_key_id IS NOT DISTINCT FROM :api_key_id
    AND {_OPEN}
    AND j.attempts = a.attempt AND (a.deadline_at IS NULL OR a.deadline_at > now())
  ORDER BY j.id
  FOR UPDATE OF j
), r AS (
  INSERT INTO job_results (job_id, assignment_id, result_payload, storage_scheme, storage_uri,
      metadata)
  SELECT cur.job_id, cur.assignment_id, CAST(cur.payload AS jsonb), cur.storage_scheme,
         cur.storage_uri, CAST(cur.metadata AS jsonb)
  FROM cur WHERE cur.status = 'SUCCEEDED'
), a AS (
  UPDATE job_assignments a SET completed_at = now(), updated_at = now(),
      outcome = CAST(cur.status AS assignment_outcome)
  FROM cur WHERE a.id = cur.assignment_id
), j AS (
  UPDATE jobs j SET status = CAST(cur.status AS job_status), finished_at = now(),
      updated_at = now(), lease_expires_at = NULL, error_message = cur.error,
      progress = CASE WHEN cur.status = 'SUCCEEDED' THEN 1 ELSE j.progress END
  FROM cur WHERE j.id = cur.job_id
  RETURNING j.*, cur.assignment_id AS completed_assignment_id
)
SELECT j.completed_assignment_id, {JOB}, {notify("status", watched_only=True)} FROM j
"""

# The type and type revision of several assignments' jobs (``ASSIGNMENT_TYPE``'s).
ASSIGNMENT_TYPES = """
SELECT a.id AS assignment_id, j.type, j.type_revision
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
WHERE a.id = ANY(CAST(:assignment_ids AS bigint[]))
"""

# release(): a worker that stops gracefully hands its job back; the attempt is
# not charged (``counted = false``, one more ``released``), and the job is
# claimable again at once.
RELEASE = f"""
WITH a AS (
  UPDATE job_assignments SET completed_at = now(), updated_at = now(), outcome = 'RELEASED',
      counted = false
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
# could not be stored): the attempt is charged (``counted`` stays true, ``released``
# unchanged), and the job runs again while attempts remain, else it ends FAILED with
# the error.
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

# A job's bound on attempts lost to the platform (its type's maxPlatformRetries): past
# it such losses count, so a job that keeps killing its own worker still ends.
_PLATFORM_BOUND = type_setting("maxPlatformRetries", "platform_bounds", 10)


def end_attempts(ending: str) -> str:
    """Ends the current attempt of the jobs in CTE ``ending`` (the caller locked them).

    ``ending`` (the CTE's text, named ``ending``) gives ``id``, ``lost_reason``
    (NULL: the lease simply expired) and ``spared`` (the attempt is not counted: its
    worker was lost to the platform, and the job is within its bound of such losses).
    A job goes back to PENDING while counted attempts remain, else it is TIMED_OUT;
    its attempt is closed as LOST (with the reason) or EXPIRED. A spared attempt is
    one more ``released`` (and ``platform_losses``), so ``attempts - released`` stays
    the count of attempts charged, as for a release.
    """
    out = "NOT e.spared AND j.attempts - j.released >= j.max_attempts"
    return f"""
{ending}, j AS (
  UPDATE jobs j SET
      status = CASE WHEN {out} THEN 'TIMED_OUT' ELSE 'PENDING' END::job_status,
      released = j.released + e.spared::int,
      platform_losses = j.platform_losses + e.spared::int,
      finished_at = CASE WHEN {out} THEN now() END,
      error_message = CASE WHEN {out}
          THEN CASE WHEN e.lost_reason IS NOT NULL THEN 'worker lost (' || e.lost_reason || ')'
                    WHEN EXISTS (SELECT 1 FROM job_assignments d
                                 WHERE d.job_id = j.id AND d.completed_at IS NULL
                                   AND d.deadline_at <= now())
                    THEN 'ran past its run-time limit of ' || j.timeout_seconds || ' s'
                    ELSE 'lease expired' END
               || ' on the last of ' || j.max_attempts || ' attempts' END,
      lease_expires_at = NULL, updated_at = now()
  FROM ending e WHERE j.id = e.id
  RETURNING j.*, e.spared, e.lost_reason AS ended_lost_reason
), closed AS (
  UPDATE job_assignments a SET completed_at = now(), updated_at = now(),
      outcome = CASE WHEN j.ended_lost_reason IS NULL THEN 'EXPIRED'
                     ELSE 'LOST' END::assignment_outcome,
      lost_reason = j.ended_lost_reason, counted = NOT j.spared
  FROM j WHERE a.job_id = j.id AND a.completed_at IS NULL
)"""


# The sweep: expired leases go back to PENDING while attempts remain, else the
# job is TIMED_OUT. Batched and SKIP LOCKED, so it is cheap and never blocks. An
# attempt whose worker the manager declared lost ends LOST: not counted when the
# platform took the worker, or when the attempt was handed to it after it was
# already gone (a claim still in flight when it died).
_EXPIRED_ENDING = f"""ending AS (
  SELECT j.id, w.lost_reason,
         coalesce((w.lost_to_platform OR a.created_at >= w.lost_at)
                  AND j.platform_losses < {_PLATFORM_BOUND}, false) AS spared
  FROM expired x JOIN jobs j ON j.id = x.id
  LEFT JOIN job_assignments a ON a.job_id = j.id AND a.attempt = j.attempts
  LEFT JOIN workers w ON w.identity = a.ecs_task_arn AND w.lost_at IS NOT NULL
)"""
EXPIRE = f"""
WITH expired AS (
  SELECT id FROM jobs
  WHERE status = 'IN_PROGRESS' AND {lease_over()}
  ORDER BY lease_expires_at LIMIT :batch
  FOR UPDATE SKIP LOCKED
), {end_attempts(_EXPIRED_ENDING)}
SELECT j.type, j.status, {notify("status")} FROM j
"""

# The manager saw a worker go (or stop answering): it is recorded as lost, and its
# live attempts end at once, spared when the platform took it (within each job's
# bound), counted otherwise (an out-of-memory kill, a crash of its own). A claim
# undone by ``UNCLAIM`` is gone, attempt and all, before this can see it; one this
# ended first is no longer untouched, so ``UNCLAIM`` leaves it as ended here.
_LOST_ENDING = f"""ending AS (
  SELECT j.id, CAST(:reason AS text) AS lost_reason,
         CAST(:platform AS boolean) AND j.platform_losses < {_PLATFORM_BOUND} AS spared
  FROM held h JOIN jobs j ON j.id = h.id
)"""
LOSE_WORKER = f"""
WITH worker AS (
  INSERT INTO workers AS w (identity, claimed_at, contact_until, lost_at, lost_reason,
      lost_to_platform)
  VALUES (:identity, now(), now(), now(), :reason, :platform)
  ON CONFLICT (identity) DO UPDATE SET lost_at = coalesce(w.lost_at, now()),
      lost_reason = coalesce(w.lost_reason, EXCLUDED.lost_reason),
      lost_to_platform = coalesce(w.lost_to_platform, EXCLUDED.lost_to_platform)
), held AS (
  SELECT j.id FROM jobs j
  JOIN job_assignments a ON a.job_id = j.id AND a.attempt = j.attempts
  WHERE j.status = 'IN_PROGRESS' AND a.ecs_task_arn = :identity AND a.completed_at IS NULL
  FOR UPDATE OF j
), {end_attempts(_LOST_ENDING)}
SELECT {JOB}, j.spared, {notify("status")} FROM j
"""
