"""Who may see which job: its creator, an admin, or a user one of whose requests the
result cache answered with it; others 403, missing 404. Only the creator or an admin
may change it (cancel)."""

from __future__ import annotations

from shared.enums import Capacity
from shared.errors import Forbidden, NotFound
from webapi.auth import Principal, current_principal
from webapi.jobs.runtime import jobs_runtime
from webapi.store.records import Claimant, JobRecord


def visible_job(job_id: int) -> JobRecord:
    job = jobs_runtime().reader.get(job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    check_visible(current_principal(), job)
    return job


def check_visible(principal: Principal, job: JobRecord) -> None:
    """``Forbidden`` unless ``principal`` may read, follow and download ``job``."""
    if principal.can_access(job.user_id):
        return
    if not jobs_runtime().reader.requested_by(job.id, principal.user_id):
        raise Forbidden(f"Job {job.id} belongs to another user")


def owned_job(job_id: int) -> JobRecord:
    """The job, if the caller created it (or is an admin): the one who may cancel it."""
    job = visible_job(job_id)
    if not current_principal().can_access(job.user_id):
        raise Forbidden(f"Only the creator of job {job_id} or an admin may cancel it")
    return job


def claimant(task_arn: str, cluster_arn: str, capacity: Capacity | None = None) -> Claimant:
    """The calling worker: its task identity, the credential it used, and the capacity
    it says it runs on."""
    principal = current_principal()
    return Claimant(task_arn, cluster_arn, principal.user_id, principal.api_key_id, capacity)
