"""``/api/job-types``: every job type, read by anyone signed in; registered by admins."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from shared.errors import NotFound
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs.runtime import JobsRuntime, jobs_runtime
from webapi.jobtypes import changes
from webapi.jobtypes import schemas as s
from webapi.jobtypes.wire import registered_doc, revision_doc
from webapi.services import services
from webapi.store.job_types import Change

blp = Blueprint(
    "job_types", __name__, url_prefix="/api/job-types", description="Job types: what runs"
)
# Anyone signed in with a role that uses jobs (ADMIN passes every guard).
READERS = ("ANALYST", "WORKER", "MANAGER")


@blp.route("", strict_slashes=False)
@require_roles(*READERS)
@blp.arguments(s.ListQuery, location="query")
@blp.response(200, s.JobTypesOut)
def list_types(query: dict[str, Any]) -> dict[str, Any]:
    """Every job type, built-in, entry-point and registered, by name, each with its input
    schema and an example input; retired ones only with ``retired=true``."""
    return {"jobTypes": type_docs(jobs_runtime(), retired=query["retired"])}


@blp.route("/<string:name>")
class JobType(MethodView):
    @require_roles(*READERS)
    @blp.errors(404)
    @blp.response(200, s.JobTypeOut)
    def get(self, name: str) -> dict[str, Any]:
        """The type as it is now (a retired one too, with ``retired: true``)."""
        return type_doc(jobs_runtime(), name)

    @require_roles("ADMIN")
    @blp.arguments(s.JobTypeBody)
    @blp.errors(400, 409)
    @blp.response(200, s.JobTypeOut, description="Changed (a new revision), or unchanged")
    @blp.alt_response(201, schema=s.JobTypeOut, description="Registered (revision 1)")
    def put(self, body: dict[str, Any], name: str) -> Any:
        """Register or change a type (ADMIN): 201 for a new type, 200 for a new revision,
        200 with the same revision when the content is unchanged. A retired type comes
        back as a new revision. 409 for a built-in or entry-point type's name."""
        runtime = jobs_runtime()
        applied = changes.apply(
            services(),
            runtime.catalogue,
            name,
            body,
            actor=current_principal(),
            allowed_images=runtime.settings.allowed_images,
        )
        status = 201 if applied.change is Change.CREATED else 200
        return registered_doc(applied.current), status

    @require_roles("ADMIN")
    @blp.errors(404, 409)
    @blp.response(200, s.JobTypeOut)
    def delete(self, name: str) -> dict[str, Any]:
        """Retire a type (ADMIN): new submissions get 400; jobs already queued still run.
        A later PUT brings it back as a new revision."""
        runtime = jobs_runtime()
        retired = changes.retire(services(), runtime.catalogue, name, actor=current_principal())
        return registered_doc(retired)


@blp.route("/<string:name>/revisions")
@require_roles(*READERS)
@blp.errors(404)
@blp.response(200, s.RevisionsOut)
def revisions(name: str) -> dict[str, Any]:
    """Every revision of a registered type, oldest first (a built-in type has none)."""
    runtime = jobs_runtime()
    type_doc(runtime, name)  # 404 for an unknown type
    with services().transaction() as conn:
        found = runtime.catalogue.store.revisions(conn, name)
    return {
        "revisions": [
            {k: v for k, v in revision_doc(r).items() if k in _REVISION_KEYS} for r in found
        ]
    }


_REVISION_KEYS = ("revision", "createdAt", "createdBy", "contentHash")


@blp.route("/<string:name>/revisions/<int:revision>")
@require_roles(*READERS)
@blp.errors(404)
@blp.response(200, s.RevisionDocOut)
def revision(name: str, revision: int) -> dict[str, Any]:
    """One revision's document: what a job submitted under it runs by (its run spec)."""
    runtime = jobs_runtime()
    with services().transaction() as conn:
        found = runtime.catalogue.store.revision(conn, name, revision)
    if found is None:
        raise NotFound(f"Job type {name} has no revision {revision}")
    return revision_doc(found)


def type_docs(runtime: JobsRuntime, *, retired: bool) -> list[dict[str, Any]]:
    """Every type's document by name (retired ones only when ``retired``); the dashboard
    lists these too."""
    catalogue = runtime.catalogue
    docs = [runtime.fixed_docs.doc(spec, catalogue.source(spec.name)) for spec in catalogue.fixed]
    docs += [
        registered_doc(found)
        for found in catalogue.registered().values()
        if retired or not found.retired
    ]
    return sorted(docs, key=lambda doc: doc["name"])


def type_doc(runtime: JobsRuntime, name: str) -> dict[str, Any]:
    """The type's document as it is now; 404 naming an unknown type."""
    catalogue = runtime.catalogue
    if name in catalogue.fixed:
        return runtime.fixed_docs.doc(catalogue.fixed.get(name), catalogue.source(name))
    found = catalogue.registered().get(name)
    if found is None:
        raise NotFound(f"Job type {name} not found")
    return registered_doc(found)
