"""The job-type registry: what each job type accepts, returns and how it is leased."""

from shared.jobtypes.loading import default_registry
from shared.jobtypes.registry import JobTypeRegistry, JobTypes, JobTypeSpec

__all__ = ["JobTypeRegistry", "JobTypeSpec", "JobTypes", "default_registry"]
