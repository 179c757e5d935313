"""``/api/webhooks``: a user's subscriptions to the ends of jobs, batches and workflows, and the
deliveries of each with the answers they got. Owner-scoped: admins see every one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Connection

from shared.errors import Forbidden, InvalidInput, NotFound
from webapi.auth import USER_ROLES, current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs.access import visible_job
from webapi.jobs.batch_routes import visible_batch
from webapi.ownership import owned, owner_filter
from webapi.services import services
from webapi.store import webhooks as store
from webapi.store.queue_reads import decode_cursor, encode_cursor
from webapi.store.webhook_records import WebhookRecord
from webapi.webhooks import schemas, signing, targets
from webapi.webhooks.runtime import webhook_sender
from webapi.webhooks.wire import delivery_wire, webhook_wire

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/webhooks",
    description="Webhooks: signed POSTs when jobs, batches and workflows end",
)
ROLES = USER_ROLES  # and ADMIN, who always passes


@blp.route("", strict_slashes=False)
class Webhooks(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, schemas.WebhooksOut)
    def get(self) -> dict[str, Any]:
        """The caller's subscriptions (every one for an admin), oldest first."""
        with services().transaction() as conn:
            found = store.listing(conn, owner_filter(current_principal()))
        return {"webhooks": [webhook_wire(w) for w in found]}

    @require_roles(*ROLES)
    @blp.errors(403, 404)
    @blp.arguments(schemas.NewWebhook)
    @blp.response(201, schemas.CreatedEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe a URL to events. The secret (given, or generated) is answered only here:
        every delivery is signed with it (``Shoal-Signature``)."""
        fields = _checked({**body, "secret": body.get("secret") or signing.new_secret()})
        principal = current_principal()
        with services().transaction() as conn:
            limit = services().settings.webhooks.max_per_user
            if len(store.listing(conn, principal.user_id)) >= limit:
                raise InvalidInput(f"At most {limit} webhooks per user: delete one first")
            created = store.insert(conn, principal.user_id, fields)
        return {"webhook": {**webhook_wire(created), "secret": created.secret}}


@blp.route("/<int:webhook_id>")
class WebhookById(MethodView):
    @require_roles(*ROLES)
    @blp.errors(403, 404)
    @blp.response(200, schemas.WebhookEnvelope)
    def get(self, webhook_id: int) -> dict[str, Any]:
        with services().transaction() as conn:
            return {"webhook": webhook_wire(_owned(conn, webhook_id))}

    @require_roles(*ROLES)
    @blp.errors(403, 404)
    @blp.arguments(schemas.WebhookChange)
    @blp.response(200, schemas.WebhookEnvelope)
    def patch(self, body: dict[str, Any], webhook_id: int) -> dict[str, Any]:
        """Change the fields given; deliveries already written keep their target."""
        with services().transaction() as conn:
            found = _owned(conn, webhook_id, lock=True)
        fields = _checked({**webhook_wire(found), "secret": found.secret, **body})
        with services().transaction() as conn:
            _owned(conn, webhook_id, lock=True)
            return {"webhook": webhook_wire(store.update(conn, webhook_id, fields))}

    @require_roles(*ROLES)
    @blp.errors(403, 404)
    @blp.response(204)
    def delete(self, webhook_id: int) -> None:
        """Unsubscribe; the deliveries not yet sent are dropped with it."""
        with services().transaction() as conn:
            store.delete(conn, _owned(conn, webhook_id, lock=True).id)


@blp.route("/<int:webhook_id>/deliveries")
@require_roles(*ROLES)
@blp.errors(403, 404)
@blp.arguments(schemas.DeliveriesQuery, location="query")
@blp.response(200, schemas.DeliveriesOut)
def deliveries(query: dict[str, Any], webhook_id: int) -> dict[str, Any]:
    """The subscription's deliveries, newest first, each with every answer it got
    (``limit`` at a time; ``nextCursor`` continues)."""
    before = decode_cursor(query.get("cursor"))
    with services().transaction() as conn:
        found = _owned(conn, webhook_id)
        page = store.deliveries(conn, found.id, limit=query["limit"], before=before)
    full = len(page) == query["limit"]
    return {
        "deliveries": [delivery_wire(d, tries) for d, tries in page],
        "nextCursor": encode_cursor(page[-1][0].id) if full else None,
    }


def _owned(conn: Connection, webhook_id: int, *, lock: bool = False) -> WebhookRecord:
    found = store.get(conn, webhook_id, lock=lock) if webhook_id <= 2**31 - 1 else None
    return owned(found, current_principal(), what="Webhook")


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """The store's fields of a subscription, every rule checked (a 4xx naming the one
    broken): the target allowed, one scope at most, a job or batch the caller may use."""
    settings = services().settings.webhooks
    targets.check(body["url"], settings, webhook_sender().resolve)
    job_id, batch_id = body.get("jobId"), body.get("batchId")
    workflow_id = body.get("workflowId")
    if sum(scope is not None for scope in (job_id, batch_id, workflow_id)) > 1:
        raise InvalidInput("jobId, batchId and workflowId: give at most one")
    scoped = any(scope is not None for scope in (job_id, batch_id, workflow_id))
    if scoped and "budget.warning" in body["events"]:
        raise InvalidInput("events: budget.warning is a user's, not a job's, batch's or workflow's")
    if job_id is not None:
        for kind in ("batch.ended", "workflow.ended"):
            if kind in body["events"]:
                raise InvalidInput(f"events: {kind} cannot be limited to one job (jobId)")
        visible_job(job_id)
    if batch_id is not None:
        if "workflow.ended" in body["events"]:
            raise InvalidInput("events: workflow.ended cannot be limited to one batch (batchId)")
        visible_batch(batch_id, current_principal())
    if workflow_id is not None:
        _own_workflow(workflow_id)
    return {
        "url": body["url"],
        "secret": body["secret"],
        "events": list(body["events"]),
        "failures_only": body["failuresOnly"],
        "job_id": job_id,
        "batch_id": batch_id,
        "workflow_id": workflow_id,
        "payload_format": body["format"],
    }


def _own_workflow(workflow_id: int) -> None:
    with services().transaction() as conn:
        owner = store.workflow_owner(conn, workflow_id)
    if owner is None:
        raise NotFound(f"Workflow {workflow_id} not found")
    if not current_principal().can_access(owner):
        raise Forbidden(f"Workflow {workflow_id} belongs to another user")
