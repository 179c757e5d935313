"""Creating a job: the result cache, the max-PENDING quota, the job and its request.

A submission locks its payload's hash bucket, looks for a reusable job, checks the
user's max PENDING only if it needs a new job, then writes the job (notified as
``created``) and the request that records who asked.
"""

from __future__ import annotations

from webapi.store.sql.fragments import BUCKET, HASH_LOCK_SPACE, JOB, REUSABLE, notify

LOCK_HASH = f"SELECT pg_advisory_xact_lock({HASH_LOCK_SPACE}, {BUCKET.format(hash=':hash')})"

# The newest reusable job of the same type and canonical payload.
FIND_CACHED = f"""
SELECT {JOB} FROM jobs j
WHERE j.type = :type AND j.hash = :hash AND {REUSABLE}
ORDER BY j.id DESC LIMIT 1
"""

# The max-PENDING check on submit. A user with a limit has its row locked (NO KEY
# UPDATE: job inserts, which take KEY SHARE for their foreign key, still pass) until
# the submit commits, so concurrent submits of one user count one after the other;
# the count is read in a later statement, whose snapshot sees the submit before.
PENDING_LIMIT = "SELECT max_pending FROM users WHERE id = :user_id"
LOCK_PENDING_LIMIT = "SELECT max_pending FROM users WHERE id = :user_id FOR NO KEY UPDATE"
PENDING_OF_USER = """
SELECT (SELECT coalesce(sum(pending), 0) FROM job_loads WHERE user_id = :user_id)
     + (SELECT coalesce(sum(pending), 0) FROM job_load_stripes WHERE user_id = :user_id)
"""

# A job with dependencies starts WAITING (``dependencies.depend`` settles it), else PENDING.
INSERT_JOB = f"""
WITH j AS (
  INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts, lease_seconds,
      timeout_seconds, priority, type_revision, name, tags, status)
  VALUES (:type, :user_id, CAST(:payload AS jsonb), :hash, :max_attempts, :lease_seconds,
          :timeout_seconds, :priority, CAST(:type_revision AS integer), :name,
          CAST(:tags AS jsonb), CAST(:status AS job_status))
  RETURNING *
)
SELECT {JOB}, {notify("created")} FROM j
"""

INSERT_REQUEST = """
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id)
VALUES (:user_id, :type, CAST(:payload AS jsonb), :cache_hit, :job_id)
RETURNING id
"""

# The answer of an earlier submission: its request, and the job that answered it.
REQUEST_ANSWER = f"""
SELECT q.id AS request_id, q.cache_hit, {JOB}
FROM job_requests q JOIN jobs j ON j.id = q.job_id WHERE q.id = :request_id
"""

# An admin stops the cache answering with a type's results (a handler changed).
INVALIDATE_CACHE = """
UPDATE job_results r SET cache_valid = false
FROM jobs j
WHERE j.id = r.job_id AND j.type = :type AND r.cache_valid
"""
