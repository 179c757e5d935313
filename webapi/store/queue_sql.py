"""Every statement the queue runs, named and commented in one place.

Notifications: all job events go to one channel, ``shoal_job_events``, as JSON
``{"event": "created" | "status" | "progress", "job_id", "type", "status",
"progress", "message"}``; they are delivered when the writing transaction commits.
Waiting claimers wake on any event whose status is PENDING (a new or requeued
job); the live event streams follow one job id. A notification costs the
committing transaction a database-wide lock until its WAL flush, so the claim,
progress and result of a job are notified only while someone follows it
(``jobs.watched``, set by ``WATCH`` before a stream reads the job); a PENDING job,
a cancel and an expiry always are.

The hot statements (claim, heartbeat, complete) check everything they need in
their own ``WHERE`` and run alone, without a transaction around them: one round
trip each. When they change nothing, the queue layer finds out why on the slow
path (``LOCK_ASSIGNMENT``, then the checks in Python).
"""

from __future__ import annotations

from webapi.store.records import AssignmentRecord, JobRecord

CHANNEL = "shoal_job_events"

JOB = JobRecord.columns("j", "job__")
ASSIGNMENT = AssignmentRecord.columns("a", "assignment__")


def _notify(event: str, alias: str = "j", *, watched_only: bool = False) -> str:
    notify = (
        f"pg_notify('{CHANNEL}', json_build_object('event', '{event}', 'job_id', {alias}.id, "
        f"'type', {alias}.type, 'status', {alias}.status, 'progress', {alias}.progress, "
        f"'message', {alias}.progress_message)::text)"
    )
    return f"CASE WHEN {alias}.watched THEN {notify} END" if watched_only else notify


# A follower is about to read the job: from now on every change to it is notified.
WATCH = "UPDATE jobs SET watched = true WHERE id = ANY(:job_ids) AND NOT watched"

# The type of an assignment's job: what its result is checked against.
ASSIGNMENT_TYPE = """
SELECT j.type FROM job_assignments a JOIN jobs j ON j.id = a.job_id WHERE a.id = :assignment_id
"""


# Serialises creates of the same canonical payload, so two identical submissions
# made at the same moment still share one job. The lock is that of the payload's
# bucket, one of ``HASH_BUCKETS``: a batch of 10,000 inputs takes at most that many
# locks, in bucket order (no deadlock). PostgreSQL's lock table is shared by every
# session (64 per connection by default), so a few batches at once must fit in it.
HASH_LOCK_SPACE = 17
HASH_BUCKETS = 128
_BUCKET = f"CAST(hashtextextended({{hash}}, 0) & {HASH_BUCKETS - 1} AS integer)"
LOCK_HASH = f"SELECT pg_advisory_xact_lock({HASH_LOCK_SPACE}, {_BUCKET.format(hash=':hash')})"
LOCK_HASHES = f"""
SELECT pg_advisory_xact_lock({HASH_LOCK_SPACE}, bucket) FROM (
  SELECT DISTINCT {_BUCKET.format(hash="h")} AS bucket
  FROM unnest(CAST(:hashes AS text[])) h ORDER BY bucket
) buckets
"""

# What a new submission may reuse: a live job, or a succeeded one whose result is
# still valid, of ``:owner``'s when the type's cache is per user (``:owner`` NULL: anyone's).
REUSABLE = """(CAST(:owner AS integer) IS NULL OR j.user_id = :owner)
  AND (j.status IN ('PENDING', 'IN_PROGRESS')
       OR (j.status = 'SUCCEEDED' AND EXISTS (
             SELECT 1 FROM job_results r WHERE r.job_id = j.id AND r.cache_valid)))"""

# The newest reusable job of the same type and canonical payload.
FIND_CACHED = f"""
SELECT {JOB} FROM jobs j
WHERE j.type = :type AND j.hash = :hash AND {REUSABLE}
ORDER BY j.id DESC LIMIT 1
"""

INSERT_JOB = f"""
WITH j AS (
  INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts, lease_seconds,
      timeout_seconds, priority)
  VALUES (:type, :user_id, CAST(:payload AS jsonb), :hash, :max_attempts, :lease_seconds,
          :timeout_seconds, :priority)
  RETURNING *
)
SELECT {JOB}, {_notify("created")} FROM j
"""

INSERT_REQUEST = """
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id)
VALUES (:user_id, :type, CAST(:payload AS jsonb), :cache_hit, :job_id)
RETURNING id
"""

# PENDING jobs, oldest first (the ReefGuide poll).
POLL = f"""
SELECT {JOB} FROM jobs j
WHERE j.status = 'PENDING' AND (CAST(:type AS text) IS NULL OR j.type = :type)
ORDER BY j.created_at, j.id LIMIT :limit
"""

# The assignment row written by assign and claim; its storage location is
# <base>/<type>/<job id>/attempt-<n>, known before the row exists.
INSERT_ASSIGNMENT = f"""
a AS (
  INSERT INTO job_assignments (job_id, attempt, ecs_task_arn, ecs_cluster_arn,
      claimed_by_user_id, claimed_by_api_key_id, expires_at, storage_scheme, storage_uri,
      deadline_at)
  SELECT j.id, j.attempts, :task_arn, :cluster_arn, :user_id, :api_key_id,
         j.lease_expires_at, CAST(:storage_scheme AS storage_scheme),
         :storage_base || '/' || lower(j.type) || '/' || j.id || '/attempt-' || j.attempts,
         now() + j.timeout_seconds * interval '1 second'
  FROM j
  RETURNING *
)
SELECT {ASSIGNMENT}, {JOB}, {_notify("status", watched_only=True)}
FROM a JOIN j ON j.id = a.job_id
"""


def start_set(lease_seconds: str) -> str:
    """The SET of a claim or assign; the lease never reaches past the run-time limit."""
    return f"""
  SET status = 'IN_PROGRESS', attempts = j.attempts + 1, progress = 0,
      progress_message = NULL, updated_at = now(), started_at = coalesce(j.started_at, now()),
      lease_expires_at = now() + least({lease_seconds}, j.timeout_seconds) * interval '1 second'
"""


_ASSIGN_LEASE = "coalesce(CAST(CAST(:assign_leases AS jsonb) ->> j.type AS int), 3600)"

# assign(job id): only a PENDING job; a concurrent assign waits for the row lock,
# re-reads the status and updates nothing. Its lease is the type's assignLeaseSeconds
# (ReefGuide workers do not heartbeat).
ASSIGN = f"""
WITH j AS (
  UPDATE jobs j {start_set(_ASSIGN_LEASE)}
  WHERE j.id = :job_id AND j.status = 'PENDING'
  RETURNING j.*
), {INSERT_ASSIGNMENT}
"""

JOB_STATUS = "SELECT status FROM jobs WHERE id = :job_id"


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
SELECT a.expires_at, {_notify("progress", watched_only=True)} FROM a, j
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
SELECT {JOB}, {_notify("status", watched_only=True)} FROM j
"""

# release(): a worker that stops gracefully hands its job back; the attempt is
# not charged, and the job is claimable again at once.
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
SELECT {JOB}, {_notify("status")} FROM j
"""

LOCK_JOB = f"SELECT {JOB} FROM jobs j WHERE j.id = :job_id FOR UPDATE"

# Cancels jobs the caller has locked (a job, or the rest of a batch).
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
SELECT {JOB}, {_notify("status")} FROM j
"""

# A job type's bound on attempts lost to the platform, from ``:platform_bounds``
# (JSON {type: maxPlatformRetries}).
_PLATFORM_BOUND = "coalesce(CAST(CAST(:platform_bounds AS jsonb) ->> j.type AS int), 10)"


def end_attempts(ending: str) -> str:
    """Ends the current attempt of the jobs in CTE ``ending`` (the caller locked them).

    ``ending`` (the CTE's text, named ``ending``) gives ``id``, ``lost_reason``
    (NULL: the lease simply expired) and ``spared`` (the attempt is not counted: its
    worker was lost to the platform, and the job is within its bound of such losses).
    A job goes back to PENDING while counted attempts remain, else it is TIMED_OUT;
    its attempt is closed as LOST (with the reason) or EXPIRED.
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
  WHERE status = 'IN_PROGRESS' AND lease_expires_at < now()
  ORDER BY lease_expires_at LIMIT :batch
  FOR UPDATE SKIP LOCKED
), {end_attempts(_EXPIRED_ENDING)}
SELECT j.type, j.status, {_notify("status")} FROM j
"""

# The manager saw a worker go (or stop answering): it is recorded as lost, and its
# live attempts end at once, spared when the platform took it (within each job's
# bound), counted otherwise (an out-of-memory kill, a crash of its own).
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
SELECT {JOB}, j.spared, {_notify("status")} FROM j
"""

DEMAND = """
SELECT type, status, count(*) AS n FROM jobs
WHERE status IN ('PENDING', 'IN_PROGRESS')
GROUP BY type, status
"""

INVALIDATE_CACHE = """
UPDATE job_results r SET cache_valid = false
FROM jobs j
WHERE j.id = r.job_id AND j.type = :type AND r.cache_valid
"""

# Pruning removes finished jobs (and by cascade their requests, assignments and
# results) in batches, so a large backlog never holds one long lock.
PRUNE = """
DELETE FROM jobs WHERE id IN (
  SELECT id FROM jobs WHERE finished_at < now() - :retention * interval '1 second'
  LIMIT :batch
)
"""
