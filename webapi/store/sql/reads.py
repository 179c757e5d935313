"""Reading jobs (the job lists are job_lists.py): one job in full, requests, the
ReefGuide poll, the demand per type and the queue depth of the last hour.

Nothing here changes a row.
"""

from __future__ import annotations

from webapi.store.sql.fragments import ASSIGNMENT, JOB, REQUEST, RESULT

GET_JOB = f"SELECT {JOB} FROM jobs j WHERE j.id = :job_id"

ASSIGNMENTS = f"""
SELECT {ASSIGNMENT}, {RESULT}
FROM job_assignments a LEFT JOIN job_results r ON r.assignment_id = a.id
WHERE a.job_id = :job_id ORDER BY a.attempt
"""

RESULT_OF_JOB = f"SELECT {RESULT} FROM job_results r WHERE r.job_id = :job_id"

# Whether one of the user's requests points to the job (a result shared by the cache).
REQUESTED_BY = """
SELECT EXISTS (SELECT 1 FROM job_requests WHERE job_id = :job_id AND user_id = :user_id)
"""

REQUESTS = f"""
SELECT {REQUEST} FROM job_requests q
WHERE (CAST(:user_id AS integer) IS NULL OR q.user_id = :user_id)
  AND (CAST(:before AS bigint) IS NULL OR q.id < :before)
ORDER BY q.id DESC LIMIT :limit
"""

# PENDING jobs, oldest first (the ReefGuide poll).
POLL = f"""
SELECT {JOB} FROM jobs j
WHERE j.status = 'PENDING' AND (CAST(:type AS text) IS NULL OR j.type = :type)
ORDER BY j.created_at, j.id LIMIT :limit
"""

# What the manager scales on: live jobs per type and status.
DEMAND = """
SELECT type, status, count(*) AS n FROM jobs
WHERE status IN ('PENDING', 'IN_PROGRESS')
GROUP BY type, status
"""
