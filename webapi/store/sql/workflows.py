"""Workflows: a graph of jobs and sweeps created in one transaction, then read back
with each step's job or batch."""

from __future__ import annotations

INSERT_WORKFLOW = """
INSERT INTO workflows (user_id, name, steps)
VALUES (:user_id, :name, CAST(:steps AS jsonb))
RETURNING id, user_id, name, steps, created_at
"""

# The jobs inserted in this transaction from here on belong to the workflow (the
# default of jobs.workflow_id reads it): its end, webhook_workflow_ended, finds them.
IN_WORKFLOW = "SELECT set_config('shoal.workflow_id', CAST(:workflow_id AS text), true)"

# Its steps are known once every one is created.
SET_STEPS = "UPDATE workflows SET steps = CAST(:steps AS jsonb) WHERE id = :id"

# A job a step reused (a cached one) belongs to the workflow too, unless another has it.
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
