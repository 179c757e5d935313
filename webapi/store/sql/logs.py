"""Job logs: an attempt's batches of lines stored, bounded and read back in order.

A chunk is one batch of an attempt's lines (``job_log_chunks``). Writes to one
attempt's log are serialised by an advisory lock on its assignment, so the bound
is kept exactly without locking the job row the heartbeat and result need. A batch
is ``ATTEMPT`` (check and lock), ``STORED`` (which of its seqs the log holds),
``INSERT_CHUNK`` (once per run of new lines), ``TRIM``.
"""

from __future__ import annotations

from webapi.store.sql.fragments import CHANNEL

# What decides whether an attempt still takes lines: its outcome, whether it is
# still the job's newest attempt, and the holder's credential. The advisory lock
# serialises the batches of one attempt (a retry racing its original, a flush racing
# a late batch) until commit: each next statement sees what the one before committed.
ATTEMPT = """
SELECT a.id, a.job_id, a.attempt, a.outcome, a.claimed_by_user_id, a.claimed_by_api_key_id,
       j.type, j.type_revision, j.attempts AS job_attempts,
       pg_advisory_xact_lock(hashtextextended('shoal-log:' || a.id, 0)) AS locked
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
WHERE a.id = :assignment_id
"""

# The seq ranges of :first_seq..:last_seq the attempt's log already accounts for: the
# chunks overlapping them, and everything before the newest chunk that counts a cut
# (stored once, cut since). Each seq is stored once: the first write wins.
STORED = """
SELECT first_seq, last_seq FROM job_log_chunks
WHERE assignment_id = :assignment_id AND first_seq <= :last_seq AND last_seq >= :first_seq
UNION ALL
SELECT 0, max(first_seq) - 1 FROM job_log_chunks
WHERE assignment_id = :assignment_id AND trimmed_lines > 0
HAVING max(first_seq) IS NOT NULL
"""

# One run of a batch's new lines (STORED picked them); the guards keep a run that
# starts at a stored seq, or before the attempt's cut, from being stored twice. The job is
# notified (a pointer, never the lines: NOTIFY payloads are small) only while
# someone follows it.
INSERT_CHUNK = f"""
INSERT INTO job_log_chunks (job_id, assignment_id, attempt, first_seq, last_seq, line_count,
    bytes, lines, dropped_lines, dropped_bytes, trimmed_lines, trimmed_bytes)
SELECT :job_id, :assignment_id, :attempt, :first_seq, :last_seq, :line_count, :bytes, :lines,
       :dropped_lines, :dropped_bytes, :trimmed_lines, :trimmed_bytes
WHERE NOT EXISTS (
  SELECT 1 FROM job_log_chunks c
  WHERE c.assignment_id = :assignment_id AND c.trimmed_lines > 0 AND c.first_seq > :last_seq)
ON CONFLICT (assignment_id, first_seq) DO NOTHING
RETURNING id, (
  SELECT CASE WHEN j.watched THEN pg_notify('{CHANNEL}', json_build_object(
      'event', 'log', 'job_id', j.id, 'type', j.type, 'chunk_id', job_log_chunks.id,
      'attempt', job_log_chunks.attempt)::text) END
  FROM jobs j WHERE j.id = job_log_chunks.job_id) AS notified
"""

# The bound: keep the newest chunks whose bytes fit in :limit, delete the older
# ones, and count what they held (their own cuts included) on the oldest chunk kept,
# so the reader shows one marker where the cut lines were. A chunk counts at least
# :line_bytes a line, so empty lines fill the bound too. Answers whether the
# attempt's log is cut (now, or before).
TRIM = """
WITH c AS (
  SELECT id, first_seq, trimmed_lines,
         sum(greatest(bytes, :line_bytes * line_count)) OVER (ORDER BY first_seq DESC)
           AS from_newest
  FROM job_log_chunks WHERE assignment_id = :assignment_id
), gone AS (
  DELETE FROM job_log_chunks d USING c
  WHERE d.id = c.id AND c.from_newest > :limit
  RETURNING d.line_count + d.dropped_lines + d.trimmed_lines AS lines,
            d.bytes + d.dropped_bytes + d.trimmed_bytes AS bytes
), cut AS (
  SELECT sum(lines) AS lines, sum(bytes) AS bytes FROM gone
), oldest AS (
  SELECT id, trimmed_lines FROM c WHERE from_newest <= :limit ORDER BY first_seq LIMIT 1
), counted AS (
  UPDATE job_log_chunks k SET trimmed_lines = k.trimmed_lines + cut.lines,
      trimmed_bytes = k.trimmed_bytes + cut.bytes
  FROM oldest, cut
  WHERE k.id = oldest.id AND cut.lines IS NOT NULL
  RETURNING k.id
)
SELECT EXISTS (SELECT 1 FROM counted) OR coalesce((SELECT trimmed_lines > 0 FROM oldest), false)
"""

# Whether the bound has cut this attempt's log: its oldest chunk counts a trim.
IS_CUT = """
SELECT coalesce((SELECT trimmed_lines > 0 FROM job_log_chunks
                 WHERE assignment_id = :assignment_id ORDER BY first_seq LIMIT 1), false)
"""

_META = (
    "id, attempt, first_seq, last_seq, line_count, dropped_lines, dropped_bytes,"
    " trimmed_lines, trimmed_bytes"
)

# The chunks of a job with lines after a position (attempt, seq), in reading order,
# without their lines: the reader picks the few it needs, then reads those.
CHUNKS_AFTER = f"""
SELECT {_META} FROM job_log_chunks
WHERE job_id = :job_id AND (CAST(:attempt AS integer) IS NULL OR attempt = :attempt)
  AND (attempt, last_seq) > (:after_attempt, :after_seq)
ORDER BY attempt, first_seq
LIMIT :chunks
"""

CHUNK_LINES = "SELECT id, lines FROM job_log_chunks WHERE id = ANY(:ids)"

# What a live follower has not seen: the job's chunks stored after chunk :after_id.
CHUNKS_SINCE = f"""
SELECT {_META}, lines FROM job_log_chunks
WHERE job_id = :job_id AND id > :after_id
ORDER BY id LIMIT :chunks
"""

# Where a live follower starts: after everything stored so far.
LAST_CHUNK = "SELECT coalesce(max(id), 0) FROM job_log_chunks WHERE job_id = :job_id"

# The newest chunks of the job's newest attempt that has lines, just enough of them
# to hold its last :lines lines, oldest first.
TAIL_CHUNKS = f"""
SELECT * FROM (
  SELECT {_META}, lines, sum(line_count) OVER (ORDER BY first_seq DESC) AS from_newest
  FROM job_log_chunks
  WHERE job_id = :job_id
    AND attempt = (SELECT max(attempt) FROM job_log_chunks WHERE job_id = :job_id)
) c
WHERE from_newest - line_count < :lines
ORDER BY first_seq
"""
