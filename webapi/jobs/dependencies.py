"""Who may depend on what: a job the caller may read (``access.check_visible``), a
batch the caller owns (or any, for an admin)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import Forbidden
from webapi.auth import current_principal
from webapi.jobs.runtime import jobs_runtime
from webapi.store import dependencies as store
from webapi.store.dependencies import Dependency


def readable(dependencies: Sequence[Dependency]) -> list[Dependency]:
    """The dependencies, if each parent exists (else 404) and the caller may read it
    (else 403), both naming it."""
    if not dependencies:
        return []
    runtime = jobs_runtime()
    principal = current_principal()
    owners = store.owners(runtime.queue.engine, dependencies)
    for dependency in dependencies:
        if principal.can_access(owners[dependency.parent]):
            continue
        shared = dependency.job_id is not None and runtime.reader.requested_by(
            dependency.job_id, principal.user_id
        )
        if not shared:
            raise Forbidden(
                f"Dependency on {dependency.parent}: it belongs to another user;"
                " nothing was created"
            )
    return list(dependencies)
