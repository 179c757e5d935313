"""Batches: many jobs of one type created, read and cancelled at once.

A batch's members are its job requests (``job_requests.batch_id``), one per input in
input order: a cache hit points to a job someone else may have created. Its new
jobs are announced in one ``fragments.NOTIFY``; cancelling runs ``lease.CANCEL`` on
the jobs ``LOCK_BATCH_LIVE`` locked.
"""

from __future__ import annotations

from webapi.store.sql.fragments import BATCH, BUCKET, HASH_LOCK_SPACE, JOB, REUSABLE

# The hash buckets of every input, locked in bucket order (``create.LOCK_HASH``'s locks).
LOCK_HASHES = f"""
SELECT pg_advisory_xact_lock({HASH_LOCK_SPACE}, bucket) FROM (
  SELECT DISTINCT {BUCKET.format(hash="h")} AS bucket
  FROM unnest(CAST(:hashes AS text[])) h ORDER BY bucket
) buckets
"""

# The newest reusable job per canonical payload among ``:hashes`` (the cache, set-wise).
FIND_REUSABLE = f"""
SELECT DISTINCT ON (j.hash) j.hash, j.id FROM jobs j
WHERE j.type = :type AND j.hash = ANY(CAST(:hashes AS text[])) AND {REUSABLE}
ORDER BY j.hash, j.id DESC
"""

# A whole batch in one statement. ``:inputs`` is a JSON array of ``{ord, first, hash,
# payload, reuse}``: ``first`` is the ord of the first input with the same payload when
# the type caches (else its own), ``reuse`` the reusable job found for it (or null).
# The first input of each payload that nothing reuses gets a new job; every other
# input points to one (a cache hit). New job ids are drawn in input order, so the
# batch is claimed in that order. With dependencies they start WAITING (``:status``).
CREATE_BATCH = """
WITH input AS (
  SELECT x.ord, x.first, x.hash, x.payload, x.reuse
  FROM jsonb_to_recordset(CAST(:inputs AS jsonb))
       AS x(ord int, first int, hash text, payload jsonb, reuse bigint)
), fresh AS (
  SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, i.ord, i.hash, i.payload
  FROM input i WHERE i.reuse IS NULL AND i.ord = i.first
  ORDER BY i.ord
), batch AS (
  INSERT INTO job_batches (user_id, type, size, name)
  VALUES (:user_id, :type, (SELECT count(*) FROM input), CAST(:name AS text))
  RETURNING id
), created AS (
  INSERT INTO jobs (id, type, user_id, input_payload, hash, max_attempts, lease_seconds,
      timeout_seconds, priority, type_revision, name, tags, status)
  SELECT f.id, :type, :user_id, f.payload, f.hash, :max_attempts, :lease_seconds,
         :timeout_seconds, :priority, CAST(:type_revision AS integer), :name,
         CAST(:tags AS jsonb), CAST(:status AS job_status)
  FROM fresh f ORDER BY f.id
), members AS (
  SELECT i.ord, i.payload, coalesce(i.reuse, f.id) AS job_id, f.ord IS DISTINCT FROM i.ord AS hit
  FROM input i LEFT JOIN fresh f ON f.ord = i.first
), requests AS (
  INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id,
      input_index)
  SELECT :user_id, :type, m.payload, m.hit, m.job_id, batch.id, m.ord + 1
  FROM members m CROSS JOIN batch ORDER BY m.ord
)
SELECT m.ord, m.job_id, m.hit, batch.id AS batch_id FROM members m CROSS JOIN batch ORDER BY m.ord
"""

# A batch of 10,000 inputs writes 20,000 rows in one statement (about 0.6 s on two
# cores): it may run for at least ``:ms``, however short the requests' statement timeout.
AT_LEAST_STATEMENT_TIMEOUT = """
SELECT set_config('statement_timeout', CAST(:ms AS text), true)
WHERE current_setting('statement_timeout') <> '0'
  AND CAST(current_setting('statement_timeout') AS interval) < :ms * interval '1 millisecond'
"""

# The batch's members as its first answer gave them: job and cache hit, in input order.
BATCH_MEMBERS = """
SELECT q.job_id, q.cache_hit FROM job_requests q WHERE q.batch_id = :batch_id ORDER BY q.id
"""

GET_BATCH = f"SELECT {BATCH} FROM job_batches b WHERE b.id = :batch_id"

# Per status of their jobs: how many of the batch's inputs are in it and their progress
# summed (a finished job counting as done), and, per job rather than per input, how many
# jobs, and the run time (start to end) summed over those that ran to an end. One index
# scan of the batch's requests; the caller adds up at most one row per status.
BATCH_COUNTS = """
WITH members AS (
  SELECT q.job_id, count(*) AS inputs FROM job_requests q
  WHERE q.batch_id = :batch_id GROUP BY q.job_id
)
SELECT j.status, sum(m.inputs) AS n,
       sum(m.inputs * CASE WHEN j.finished_at IS NULL THEN j.progress ELSE 1 END) AS progress,
       count(*) AS jobs,
       count(*) FILTER (WHERE j.finished_at IS NOT NULL AND j.started_at IS NOT NULL) AS ran,
       coalesce(sum(extract(epoch FROM j.finished_at - j.started_at))
                FILTER (WHERE j.finished_at IS NOT NULL AND j.started_at IS NOT NULL), 0)
         AS run_seconds
FROM members m JOIN jobs j ON j.id = m.job_id
GROUP BY j.status
"""

# The batch's inputs whose job ended FAILED or TIMED_OUT, in input order after input
# ``:after``, with its error.
BATCH_FAILED = f"""
SELECT q.input_index, {JOB}
FROM job_requests q JOIN jobs j ON j.id = q.job_id
WHERE q.batch_id = :batch_id AND j.status IN ('FAILED', 'TIMED_OUT')
  AND (CAST(:after AS integer) IS NULL OR q.input_index > :after)
ORDER BY q.input_index LIMIT :limit
"""

# Where the results of the batch's inputs whose job SUCCEEDED are, in input order after
# input ``:after`` (the archive reads them a page at a time).
BATCH_RESULTS = """
SELECT q.input_index, j.id AS job_id, r.storage_uri
FROM job_requests q JOIN jobs j ON j.id = q.job_id JOIN job_results r ON r.job_id = j.id
WHERE q.batch_id = :batch_id AND j.status = 'SUCCEEDED'
  AND (CAST(:after AS integer) IS NULL OR q.input_index > :after)
ORDER BY q.input_index LIMIT :limit
"""

# The batch a job was created by (a cache hit in another batch does not make it theirs).
JOB_BATCH = f"""
SELECT {BATCH} FROM job_requests q JOIN job_batches b ON b.id = q.batch_id
WHERE q.job_id = :job_id AND NOT q.cache_hit
LIMIT 1
"""

# The batch's live jobs that ``:user_id`` created (NULL: anyone's, for an admin), locked.
# The batch's job ids are read first, as one array: joined, a plan from stale statistics
# (a batch just written) read every request of the batch once per job, or every job once
# per request (3 s at 10,000).
LOCK_BATCH_LIVE = """
SELECT j.id FROM jobs j
WHERE j.id = ANY(ARRAY(SELECT q.job_id FROM job_requests q WHERE q.batch_id = :batch_id))
  AND j.status IN ('WAITING', 'PENDING', 'IN_PROGRESS')
  AND (CAST(:user_id AS integer) IS NULL OR j.user_id = :user_id)
ORDER BY j.id
FOR UPDATE
"""

# The batch's jobs, one row per input in input order, after request ``:after``.
BATCH_JOBS = f"""
SELECT q.id AS request_id, q.input_index, {JOB}
FROM job_requests q JOIN jobs j ON j.id = q.job_id
WHERE q.batch_id = :batch_id AND (CAST(:after AS bigint) IS NULL OR q.id > :after)
ORDER BY q.id LIMIT :limit
"""

# A user's batches, newest first.
LIST_BATCHES = f"""
SELECT {BATCH} FROM job_batches b
WHERE b.user_id = :user_id AND (CAST(:before AS bigint) IS NULL OR b.id < :before)
ORDER BY b.id DESC LIMIT :limit
"""
