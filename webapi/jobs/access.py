"""Who may see which job: the owner or an admin; others 403, missing 404."""

from __future__ import annotations

from shared.db.records import Claimant, JobRecord
from shared.errors import Forbidden, NotFound
from webapi.auth import Principal, current_principal
from webapi.jobs.runtime import jobs_runtime


def visible_job(job_id: int) -> JobRecord:
    job = jobs_runtime().reader.get(job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    check_visible(current_principal(), job)
    return job


def check_visible(principal: Principal, job: JobRecord) -> None:
    """``Forbidden`` unless ``principal`` may see ``job``."""
    if not principal.can_access(job.user_id):
        raise Forbidden(f"Job {job.id} belongs to another user")


def claimant(task_arn: str, cluster_arn: str) -> Claimant:
    """The calling worker: its task identity and the credential it used."""
    principal = current_principal()
    return Claimant(task_arn, cluster_arn, principal.user_id, principal.api_key_id)
