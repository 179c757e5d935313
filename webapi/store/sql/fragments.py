"""The pieces several statements share: row select lists, job notifications, the
result cache's rule and its payload locks.

Notifications: all job events go to one channel, ``shoal_job_events``, as JSON
``{"event": "created" | "status" | "progress", "job_id", "type", "status",
"progress", "message"}``; they are delivered when the writing transaction commits.
Waiting claimers wake on any event whose status is PENDING (a new or requeued
job); the live event streams follow one job id. A notification costs the
committing transaction a database-wide lock until its WAL flush, so the claim,
progress and result of a job are notified only while someone follows it
(``jobs.watched``, set by ``WATCH`` before a stream reads the job); a PENDING job,
a cancel and an expiry always are.
"""

from __future__ import annotations

from webapi.store.records import (
    ApiKeyRecord,
    AssignmentRecord,
    BatchRecord,
    JobRecord,
    JobRequestRecord,
    NoteRecord,
    PolygonRecord,
    PreApprovalRecord,
    ResultRecord,
    UserRecord,
)

CHANNEL = "shoal_job_events"

# The select lists that ``XRecord.from_row(row, prefix)`` reads.
JOB = JobRecord.columns("j", "job__")
ASSIGNMENT = AssignmentRecord.columns("a", "assignment__")
RESULT = ResultRecord.columns("r", "result__")
REQUEST = JobRequestRecord.columns("q", "request__")
BATCH = BatchRecord.columns("b", "batch__")
USER = UserRecord.columns("u", "")
PRE_APPROVAL = PreApprovalRecord.columns("p", "")
API_KEY = ApiKeyRecord.columns("k", "")
POLYGON = PolygonRecord.columns("p", "")
NOTE = NoteRecord.columns("n", "")


def notify(event: str, alias: str = "j", *, watched_only: bool = False) -> str:
    """The select item that notifies a job event for row ``alias``."""
    notification = (
        f"pg_notify('{CHANNEL}', json_build_object('event', '{event}', 'job_id', {alias}.id, "
        f"'type', {alias}.type, 'status', {alias}.status, 'progress', {alias}.progress, "
        f"'message', {alias}.progress_message)::text)"
    )
    return f"CASE WHEN {alias}.watched THEN {notification} END" if watched_only else notification


def type_setting(key: str, fixed: str, default: int) -> str:
    """A job's (``j``) integer setting ``key`` (a type document's name for it): a
    registered type's job takes it from the revision it was submitted under, any
    other from the parameter ``fixed`` (JSON {type: value}, the built-in and
    entry-point types'), else ``default``."""
    return f"""coalesce(
    (SELECT CAST(r.definition ->> '{key}' AS int) FROM job_type_revisions r
     WHERE r.name = j.type AND r.revision = j.type_revision),
    CAST(CAST(:{fixed} AS jsonb) ->> j.type AS int), {default})"""


# Any other notification, e.g. one for a whole batch's new jobs.
NOTIFY = "SELECT pg_notify(:channel, :payload)"


def lease_over(prefix: str = "") -> str:
    """The condition that a job's lease is over (``prefix``: its table's ``alias.``).

    A lease that ran out while the database was down is not over: nobody could renew
    it. A job untouched since the database last started (its ``updated_at`` is older:
    no heartbeat, result or claim since) keeps its lease for one lease period after the
    start, for its worker's heartbeat or late result to arrive before anyone takes it
    over or the sweep ends it.
    """
    return (
        f"{prefix}lease_expires_at < now() AND NOT ("
        f"{prefix}updated_at < pg_postmaster_start_time() AND now() < "
        f"pg_postmaster_start_time() + {prefix}lease_seconds * interval '1 second')"
    )

# What a new submission may reuse: a live job, or a succeeded one whose result is
# still valid, of ``:owner``'s when the type's cache is per user (``:owner`` NULL: anyone's).
REUSABLE = """(CAST(:owner AS integer) IS NULL OR j.user_id = :owner)
  AND (j.status IN ('PENDING', 'IN_PROGRESS')
       OR (j.status = 'SUCCEEDED' AND EXISTS (
             SELECT 1 FROM job_results r WHERE r.job_id = j.id AND r.cache_valid)))"""

# Serialises creates of the same canonical payload, so two identical submissions
# made at the same moment still share one job. The lock is that of the payload's
# bucket, one of ``HASH_BUCKETS``: a batch of 10,000 inputs takes at most that many
# locks, in bucket order (no deadlock). PostgreSQL's lock table is shared by every
# session (64 per connection by default), so a few batches at once must fit in it.
HASH_LOCK_SPACE = 17
HASH_BUCKETS = 128
BUCKET = f"CAST(hashtextextended({{hash}}, 0) & {HASH_BUCKETS - 1} AS integer)"
