"""Why the queue refuses a change to an assignment: the slow path's checks.

The hot statements check all of this in SQL and simply change nothing when a check
fails; the queue then locks the assignment's job and runs these to say which.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.enums import AssignmentOutcome, JobStatus
from shared.errors import Forbidden, IllegalState, NotFound
from webapi.store.prepared import text as _text
from webapi.store.records import AssignmentRecord, Claimant, JobRecord
from webapi.store.sql import lease as lease_sql


def lock_assignment(
    conn: Connection, assignment_id: int, claimant: Claimant
) -> tuple[AssignmentRecord, JobRecord, datetime]:
    row = conn.execute(_text(lease_sql.LOCK_ASSIGNMENT), {"assignment_id": assignment_id})
    found = row.mappings().first()
    if found is None:
        raise NotFound(f"Assignment {assignment_id} not found")
    assignment = AssignmentRecord.from_row(found, "assignment__")
    if not claimant.holds(assignment):
        raise Forbidden(f"Assignment {assignment_id} is held by another worker")
    return assignment, JobRecord.from_row(found, "job__"), found["now"]


def require_within_deadline(assignment: AssignmentRecord, job: JobRecord, now: datetime) -> None:
    """Refuse an attempt past its run-time limit (400): the attempt is over."""
    if assignment.deadline_at is not None and assignment.deadline_at <= now:
        raise IllegalState(
            f"Assignment {assignment.id}: the attempt is over, it ran past the run-time "
            f"limit of job type {job.type}"
        )


def require_latest(assignment: AssignmentRecord, job: JobRecord, now: datetime) -> None:
    """Refuse a result unless this is the job's newest assignment and the job is open (400)."""
    outcome = assignment.outcome
    if outcome is AssignmentOutcome.CANCELLED or job.status is JobStatus.CANCELLED:
        raise IllegalState(f"Assignment {assignment.id}: the job was cancelled")
    if outcome not in (None, AssignmentOutcome.EXPIRED, AssignmentOutcome.LOST):
        raise IllegalState(f"Assignment {assignment.id} is already completed ({outcome.value})")
    if job.attempts != assignment.attempt:
        raise IllegalState(
            f"Assignment {assignment.id}: its lease expired and job {job.id} was taken over"
        )
    if job.status.terminal:
        raise IllegalState(f"Assignment {assignment.id}: job {job.id} is already {job.status}")
    require_within_deadline(assignment, job, now)


def require_live(assignment: AssignmentRecord, job: JobRecord, now: datetime) -> None:
    """Refuse a completed, cancelled, expired or superseded assignment (400)."""
    outcome = assignment.outcome
    if outcome is AssignmentOutcome.CANCELLED or job.status is JobStatus.CANCELLED:
        raise IllegalState(f"Assignment {assignment.id}: the job was cancelled")
    if outcome is AssignmentOutcome.LOST:
        raise IllegalState(
            f"Assignment {assignment.id}: its worker was declared lost ({assignment.lost_reason})"
        )
    if outcome is AssignmentOutcome.EXPIRED or (outcome is None and assignment.expires_at <= now):
        raise IllegalState(f"Assignment {assignment.id}: its lease expired")
    if outcome is not None:
        raise IllegalState(f"Assignment {assignment.id} is already completed ({outcome.value})")
    if job.status is not JobStatus.IN_PROGRESS or job.attempts != assignment.attempt:
        raise IllegalState(f"Assignment {assignment.id} no longer holds job {job.id}")
