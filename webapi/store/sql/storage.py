"""The storage clean-up: result files of deleted job assignments, an outbox.

A trigger on ``job_assignments`` (``queue_storage_deletion`` in functions.sql) adds
a ``storage_deletions`` row for each deleted assignment, in the deleting
transaction. Each API process takes due rows, deletes their files, and drops or
postpones each row.
"""

from __future__ import annotations

# Due rows, held by moving ``not_before`` ahead: no transaction stays open while the
# files are deleted, and a process that dies mid-batch leaves them to another.
TAKE = """
UPDATE storage_deletions SET not_before = now() + make_interval(secs => :hold),
                             attempts = attempts + 1
WHERE id IN (SELECT id FROM storage_deletions WHERE not_before <= now()
             ORDER BY not_before, id LIMIT :batch FOR UPDATE SKIP LOCKED)
RETURNING id, storage_uri, attempts
"""

DONE = "DELETE FROM storage_deletions WHERE id = :id"

# A failure is kept with its error and taken again after the back-off.
FAILED = """
UPDATE storage_deletions
SET not_before = now() + make_interval(secs => :backoff), last_error = :error
WHERE id = :id
"""

# The attempt directory a stored file lies in must still belong to a job: a deleted
# job's download links stop working at once, before its files are gone.
ATTEMPT_EXISTS = """
SELECT EXISTS (SELECT 1 FROM job_assignments WHERE job_id = :job_id AND storage_uri = :uri)
"""
