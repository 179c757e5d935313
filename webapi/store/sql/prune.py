"""Retention: finished jobs, then the batches left without jobs, deleted once old.

Deleting a job cascades to its requests, assignments, results and logs; the
assignments' trigger queues their files for the storage clean-up (``storage``).
"""

from __future__ import annotations

# In batches, so a large backlog never holds one long lock.
PRUNE_JOBS = """
DELETE FROM jobs WHERE id IN (
  SELECT id FROM jobs WHERE finished_at < now() - :retention * interval '1 second'
  LIMIT :batch
)
"""

# Batches older than the retention whose jobs have all been pruned (no request left).
PRUNE_BATCHES = """
DELETE FROM job_batches b
WHERE b.created_at < now() - :retention * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM job_requests q WHERE q.batch_id = b.id)
"""
