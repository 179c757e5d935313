"""Workflows (ANALYST or ADMIN): a graph of jobs and sweeps created all or nothing."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from shared.errors import Forbidden, InvalidInput, NotFound
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.offload import in_child
from webapi.store import usage, workflows
from webapi.store.queue_reads import MAX_ID
from webapi.store.workflows import Workflows, WorkflowView
from webapi.usage.wire import usage_wire
from webapi.workflows import schemas

blp = Blueprint(
    "workflows",
    __name__,
    url_prefix="/api/workflows",
    description="Workflows: jobs and sweeps that wait for each other, submitted as one",
)


def _workflows() -> Workflows:
    runtime = jobs_runtime()
    return Workflows(runtime.queue.engine, runtime.queue, runtime.batches)


@blp.route("", strict_slashes=False)
class WorkflowList(MethodView):
    @require_roles(*USERS)
    @blp.arguments(schemas.NewWorkflow)
    @blp.errors(429)
    @blp.response(201, schemas.WorkflowEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create every step's job or batch, parents first, in one transaction: all of
        them, or (a bad step, an unknown name, a cycle) none, with a 400 naming the step.
        A step waits (WAITING) for the steps in its ``after``."""
        runtime = jobs_runtime()
        types = runtime.catalogue.snapshot()
        limit = runtime.settings.batch_check_seconds
        try:
            steps = in_child(workflows.check, types, body["steps"], body["priority"], limit=limit)
        except TimeoutError:
            raise InvalidInput(
                f"Checking the workflow's inputs took more than {limit:g} s; nothing was created"
            ) from None
        created = _workflows().create(
            user_id=current_principal().user_id,
            name=body["name"],
            steps=steps,
            priority=body["priority"],
        )
        view = _workflows().get(created)
        return {"workflow": view}

    @require_roles(*USERS)
    @blp.arguments(schemas.WorkflowsQuery, location="query")
    @blp.response(200, schemas.WorkflowsPage)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your workflows, newest first, each with its steps' statuses."""
        page = _workflows().mine(
            current_principal().user_id, limit=query["limit"], cursor=query.get("cursor")
        )
        return {"workflows": page.items, "nextCursor": page.next_cursor}


@blp.route("/<int:workflow_id>")
@require_roles(*USERS)
@blp.errors(403, 404)
@blp.response(200, schemas.WorkflowEnvelope)
def get_workflow(workflow_id: int) -> dict[str, Any]:
    """A workflow: each step's job or batch and status, the workflow's status, and what
    its jobs used and cost so far (``usage``)."""
    found = visible_workflow(workflow_id)
    with jobs_runtime().queue.engine.connect() as conn:
        used = usage.workflow_usage(conn, workflow_id)
    return {"workflow": {**vars(found), "usage": usage_wire(used)}}


def visible_workflow(workflow_id: int) -> WorkflowView:
    """The workflow, if the caller created it or is an admin (else 403; missing 404)."""
    found = _workflows().get(workflow_id) if workflow_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"Workflow {workflow_id} not found")
    if not current_principal().can_access(found.user_id):
        raise Forbidden(f"Workflow {workflow_id} belongs to another user")
    return found
