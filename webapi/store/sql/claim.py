"""Claiming jobs: expired leases first, then PENDING jobs, oldest first or by fair
share, up to ``:limit`` in one statement; and ReefGuide's assign of one named job.

A claim starts each job it picks (IN_PROGRESS, one more attempt, a lease) and
writes its assignment, whose storage location is
``<base>/<type>/<job id>/attempt-<n>``, known before the row exists.
"""

from __future__ import annotations

from webapi.store.sql.fragments import ASSIGNMENT, JOB, lease_over, notify, type_setting


def start_set(lease_seconds: str) -> str:
    """The SET of a claim or assign; the lease never reaches past the run-time limit."""
    return f"""
  SET status = 'IN_PROGRESS', attempts = j.attempts + 1, progress = 0,
      progress_message = NULL, updated_at = now(), started_at = coalesce(j.started_at, now()),
      lease_expires_at = now() + least({lease_seconds}, j.timeout_seconds) * interval '1 second'
"""


def _size(unit: str, index: int, default: int) -> str:
    """A job's (``j``) vCPU (``cpu``) or memory GB (``memory``): its registered type's
    revision's, else ``:sizes``' (the fixed types'), else ``default``. A subquery by key
    per job, as in type_setting: the claim's plan keeps no join to sort."""
    return f"""coalesce(
    (SELECT CAST(r.definition #>> ARRAY['run', '{unit}'] AS numeric) / 1024
     FROM job_type_revisions r WHERE r.name = j.type AND r.revision = j.type_revision),
    CAST(CAST(:sizes AS jsonb) #>> ARRAY[j.type, '{index}'] AS numeric), {default})"""


# The assignment row written by assign and claim for each job started (``j``). Its
# task size is the registered type's (the revision the job was submitted under), else
# ``:sizes`` (JSON {type: [vcpu, memory GB]}, the fixed types'); its capacity the
# claimant's (``:capacity``).
INSERT_ASSIGNMENT = f"""
a AS (
  INSERT INTO job_assignments (job_id, attempt, ecs_task_arn, ecs_cluster_arn,
      claimed_by_user_id, claimed_by_api_key_id, expires_at, storage_scheme, storage_uri,
      deadline_at, vcpu, memory_gb, capacity)
  SELECT j.id, j.attempts, :task_arn, :cluster_arn, :user_id, :api_key_id,
         j.lease_expires_at, CAST(:storage_scheme AS storage_scheme),
         :storage_base || '/' || lower(j.type) || '/' || j.id || '/attempt-' || j.attempts,
         now() + j.timeout_seconds * interval '1 second',
         {_size("cpu", 0, 1)}, {_size("memory", 1, 2)}, CAST(:capacity AS capacity)
  FROM j
  RETURNING *
)
SELECT {ASSIGNMENT}, {JOB}, {notify("status", watched_only=True)}
FROM a JOIN j ON j.id = a.job_id
"""

# An expired lease whose worker the manager declared lost is left to the sweep,
# which decides whether that attempt counts (lease.EXPIRE).
_EXPIRED = f"""
expired AS (
  SELECT id FROM jobs
  WHERE status = 'IN_PROGRESS' AND {{type_match}} AND {lease_over()}
    AND attempts - released < max_attempts
    AND NOT EXISTS (
      SELECT 1 FROM job_assignments la JOIN workers lw ON lw.identity = la.ecs_task_arn
      WHERE la.job_id = jobs.id AND la.attempt = jobs.attempts AND lw.lost_at IS NOT NULL)
  ORDER BY lease_expires_at LIMIT :limit
  FOR UPDATE SKIP LOCKED
)"""

# The picked jobs are started by key: the planner cannot tell how few they are, and
# joining them to jobs could read the whole queue.
_START_PICKED = f"""
picked AS (
  SELECT id FROM expired UNION ALL SELECT id FROM pending
), j AS (
  UPDATE jobs j {start_set("j.lease_seconds")}
  WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
  RETURNING j.*
), closed AS (
  UPDATE job_assignments old SET completed_at = now(), updated_at = now(), outcome = 'EXPIRED'
  FROM j WHERE old.job_id = j.id AND old.completed_at IS NULL
), {INSERT_ASSIGNMENT}"""


def _claim(type_match: str) -> str:
    return f"""
WITH {_EXPIRED.format(type_match=type_match)}, pending AS (
  SELECT id FROM jobs
  WHERE status = 'PENDING' AND {type_match}
  ORDER BY created_at, id LIMIT (SELECT :limit - count(*) FROM expired)
  FOR UPDATE SKIP LOCKED
), {_START_PICKED}
"""


# The fair-share order of users: fewest running jobs per weight, then waiting longest.
# Per type, it is ix_job_loads_pick's order, and the WHERE is that partial index's
# predicate; several types are merged from one index scan each.
_ORDER = "CAST(running AS double precision) / weight, waiting_since, user_id"

_LOADS = f"""
  SELECT f.* FROM {{types}} CROSS JOIN LATERAL (
    SELECT l.type, l.user_id, l.pending, l.running, l.weight, l.max_running, l.waiting_since
    FROM job_loads l
    WHERE l.type = t.type AND l.pending > 0
      AND (l.max_running IS NULL OR l.running < l.max_running)
    ORDER BY CAST(l.running AS double precision) / l.weight, l.waiting_since, l.user_id
    LIMIT {{limit}}
  ) f
  ORDER BY {_ORDER} LIMIT {{limit}}"""

# A user's counts: their job_loads row's plus their stripes' (migration 0021), read by
# key. The row of a user with a max running is locked by its key alone, so a lock never
# fails a re-check and is never held by a claimer that does not use it; read after the
# lock, the row's counts are the latest, and every job started for that user is counted
# in it (job_loads_status_changed). A user without one is not locked at all: concurrent
# claimers take their jobs side by side, SKIP LOCKED keeping them apart.
_STRIPES = """
  SELECT coalesce(sum(p.pending), 0) AS pending, coalesce(sum(p.running), 0) AS running,
         max(p.waiting_since) AS waiting_since
  FROM job_load_stripes p WHERE p.user_id = l.user_id AND p.type = l.type"""
_SUMMED = """l.type, l.user_id, l.pending + s.pending AS pending, l.running + s.running AS running,
         l.weight, l.max_running, greatest(l.waiting_since, s.waiting_since) AS waiting_since"""
_COUNTS = f"""
  SELECT {_SUMMED}
  FROM job_loads l CROSS JOIN LATERAL ({_STRIPES}) s
  WHERE l.type = c.type AND l.user_id = c.user_id"""
# Several users in the running: each user's row is locked as a capped user's is, so
# claims that arrive together do not all read the same counts and all serve one user.
_CONTESTED = "(SELECT count(*) FROM ranked) > 1"
_LOCK_LOAD = _COUNTS + f" AND (l.max_running IS NOT NULL OR {_CONTESTED}) FOR UPDATE OF l {{skip}}"
_FREE_LOAD = f"""
  SELECT * FROM ({_LOCK_LOAD.format(skip="SKIP LOCKED")}) locked
  UNION ALL
  SELECT c.type, c.user_id, c.pending, c.running, c.weight, c.max_running, c.waiting_since
  WHERE c.max_running IS NULL AND NOT {_CONTESTED}"""

# A user with work waiting and room to run it, by their counts summed: their job_loads
# row alone may count jobs that others' stripes have taken.
_ROOM = "l.pending > 0 AND (l.max_running IS NULL OR l.running < l.max_running)"

# Users read ahead of the ones a claim needs, in case concurrent claimers hold some;
# ranked again by their counts summed, before any is locked.
_AHEAD = 32


def _fair_claim(types: str, job_types: str) -> str:
    ahead = _LOADS.format(types=types, limit=f"(SELECT n FROM room) + {_AHEAD}")
    first = _LOADS.format(types=types, limit="1")
    return f"""
WITH {_EXPIRED.format(type_match=job_types)}, room AS (
  SELECT :limit - count(*) AS n FROM expired
), ranked AS (
  SELECT l.* FROM (
    SELECT {_SUMMED} FROM ({ahead}) l CROSS JOIN LATERAL ({_STRIPES}) s
  ) l
  WHERE {_ROOM}
  ORDER BY CAST(l.running AS double precision) / l.weight, l.waiting_since, l.user_id
), free AS (
  SELECT l.* FROM ranked c CROSS JOIN LATERAL ({_FREE_LOAD}) l
  WHERE {_ROOM}
  LIMIT (SELECT n FROM room)
), busy AS (
  SELECT l.* FROM ({first}) c CROSS JOIN LATERAL ({_LOCK_LOAD.format(skip="")}) l
  WHERE (SELECT n FROM room) > 0 AND NOT EXISTS (SELECT 1 FROM free)
), candidates AS (
  SELECT * FROM (SELECT * FROM free UNION ALL SELECT * FROM busy) l WHERE {_ROOM}
), share AS (
  SELECT CAST(ceil((SELECT n FROM room) / greatest(count(*), 1.0)) AS int) AS k FROM candidates
), taken AS (
  SELECT p.id, c.user_id, c.running, c.weight, c.waiting_since,
         row_number() OVER (PARTITION BY c.type, c.user_id
                            ORDER BY p.priority DESC, p.created_at, p.id) AS nth
  FROM candidates c CROSS JOIN LATERAL (
    SELECT j.id, j.priority, j.created_at FROM jobs j
    WHERE j.status = 'PENDING' AND j.type = c.type AND j.user_id = c.user_id
    ORDER BY j.priority DESC, j.created_at, j.id
    LIMIT least((SELECT k FROM share), coalesce(c.max_running - c.running, 2147483647))
    FOR UPDATE SKIP LOCKED
  ) p
), pending AS (
  SELECT id FROM taken
  ORDER BY CAST(running + nth AS double precision) / weight, waiting_since, user_id
  LIMIT (SELECT n FROM room)
), {_START_PICKED}
"""


# claim(types, limit) in one statement: expired leases with attempts left are taken
# over first (their old assignments closed as EXPIRED), then PENDING jobs, up to
# ``limit`` in all. SKIP LOCKED lets concurrent claimers pass each other. Run alone,
# without a transaction around it: one round trip.
#
# Oldest first (fair share off): with one type the pending index is read in order,
# no sort needed.
CLAIM_ONE = _claim("type = :type")
CLAIM_ANY = _claim("type = ANY(:types)")

# Fair share: the users come from job_loads, least loaded first (running jobs per
# weight, then the one waiting longest; users at their max running are not in the
# index), and each gives its next jobs (priority, then age) from its own slice of
# ix_jobs_pending_type_user_priority. A claim of n jobs spreads them over the n least
# loaded users, an equal part each at most, the least loaded served first.
# Each claimer locks the counter rows of the users with a max running it takes from
# (SKIP LOCKED, so concurrent claimers spread over them); only when it could take
# from none does it wait, for the least loaded one's row alone; if that user has no
# room left once the row is free, the claim finds nothing. So a claimer never waits
# while it holds a counter row (no deadlock). The lock is what makes max running
# exact: the job's status change raises the user's running count in that row
# (trigger) before the lock is let go at commit, and the next claimer reads it.
# Users without a max running are never locked: one user with all the work is
# claimed from by every claimer at once, as oldest first would.
FAIR_CLAIM_ONE = _fair_claim("(SELECT CAST(:type AS text)) AS t(type)", "type = :type")
FAIR_CLAIM_ANY = _fair_claim("unnest(CAST(:types AS text[])) AS t(type)", "type = ANY(:types)")


_ASSIGN_LEASE = type_setting("assignLeaseSeconds", "assign_leases", 3600)

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

# Why an assign changed nothing: no such job, or not PENDING.
JOB_STATUS = "SELECT status FROM jobs WHERE id = :job_id"
