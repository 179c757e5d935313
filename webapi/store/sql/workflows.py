"""Workflows: a graph of jobs and sweeps created in one transaction, then read back
with each step's job or batch."""

from __future__ import annotations

INSERT_WORKFLOW = """
INSERT INTO workflows (user_id, name, steps)
VALUES (:user_id, :name, CAST(:steps AS jsonb))
RETURNING id, user_id, name, steps, created_at
"""

# Its steps' jobs know it (its end, webhook_workflow_ended); a job a sweep reused from
# another workflow stays that one's.
TAG_JOBS = """
UPDATE jobs SET workflow_id = :workflow_id
WHERE id = ANY(CAST(:job_ids AS bigint[])) AND workflow_id IS NULL
"""

GET_WORKFLOW = "SELECT id, user_id, name, steps, created_at FROM workflows WHERE id = :id"

# A user's workflows, newest first.
LIST_WORKFLOWS = """
SELECT id, user_id, name, steps, created_at FROM workflows
WHERE user_id = :user_id AND (CAST(:before AS bigint) IS NULL OR id < :before)
ORDER BY id DESC LIMIT :limit
"""

# The status of each of ``:job_ids``.
JOB_STATUSES = "SELECT id, status FROM jobs WHERE id = ANY(CAST(:job_ids AS bigint[]))"
