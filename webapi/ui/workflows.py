"""A workflow's page: its graph, each step's status, live while a step is."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from shared.errors import Forbidden, NotFound
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.workflows import Workflows
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.ui.usage_data import workflow_usage
from webapi.ui.workflow_svg import workflow_svg


@blp.route("/workflows/<int:workflow_id>")
@page(*USERS)
def workflow(workflow_id: int) -> ResponseReturnValue:
    runtime = jobs_runtime()
    found = Workflows(runtime.queue.engine, runtime.queue, runtime.batches).get(workflow_id)
    if found is None:
        raise NotFound(f"Workflow {workflow_id} not found.")
    if not current_session().principal.can_access(found.user_id):
        raise Forbidden(f"Workflow {workflow_id} belongs to another user.")
    return render_page(
        "workflow.html",
        flow=found,
        graph=workflow_svg(found.steps),
        usage=workflow_usage(workflow_id),
    )
