"""The bodies of ``/api/webhooks``.

``EVENTS`` are the kinds a subscription may name; each is written by a trigger in
functions.sql (``webhook_job_ended``, ``webhook_batch_ended``, ``webhook_workflow_ended``),
but ``budget.warning``, written by the submission that first takes a user past their
budget's warnAt in a month (``webapi/store/budgets.py``).
A new kind is one more name here and one more trigger writing ``webhook_events`` rows of
that kind.
"""

from __future__ import annotations

import marshmallow as ma

from webapi.schemas import Strict, UtcDateTime

EVENTS = ("job.ended", "batch.ended", "workflow.ended", "budget.warning")
FORMATS = ("json", "slack")
MAX_ID = 2**63 - 1

_SECRET = ma.validate.And(
    ma.validate.Length(min=16, max=256),
    ma.validate.Regexp(r"^[\x21-\x7e]*$", error="Must be visible ASCII characters."),
)
_EVENTS = ma.validate.And(
    ma.validate.Length(min=1, max=len(EVENTS)),
    lambda events: len(set(events)) == len(events) or _raise("Each event at most once."),
)
_ID = ma.validate.Range(min=1, max=MAX_ID)


def _raise(message: str) -> bool:
    raise ma.ValidationError(message)


def _events(**kwargs: object) -> ma.fields.List[str]:
    kind = ma.fields.String(validate=ma.validate.OneOf(EVENTS))
    return ma.fields.List(kind, validate=_EVENTS, **kwargs)  # type: ignore[arg-type]


class NewWebhook(Strict):
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2048))
    secret = ma.fields.String(validate=_SECRET)
    events = _events(required=True)
    failuresOnly = ma.fields.Boolean(load_default=False)  # noqa: N815 - wire name
    jobId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    batchId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    workflowId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(FORMATS))


class WebhookChange(Strict):
    """A PATCH: the fields given replace the subscription's (``jobId``/``batchId``/
    ``workflowId`` null: none)."""

    url = ma.fields.String(validate=ma.validate.Length(min=1, max=2048))
    secret = ma.fields.String(validate=_SECRET)
    events = _events()
    failuresOnly = ma.fields.Boolean()  # noqa: N815 - wire name
    jobId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    batchId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    workflowId = ma.fields.Integer(strict=True, validate=_ID, allow_none=True)  # noqa: N815
    format = ma.fields.String(validate=ma.validate.OneOf(FORMATS))


class WebhookOut(ma.Schema):
    id = ma.fields.Integer()
    userId = ma.fields.Integer()  # noqa: N815 - wire name
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    failuresOnly = ma.fields.Boolean()  # noqa: N815
    jobId = ma.fields.Integer(allow_none=True)  # noqa: N815
    batchId = ma.fields.Integer(allow_none=True)  # noqa: N815
    workflowId = ma.fields.Integer(allow_none=True)  # noqa: N815
    format = ma.fields.String()
    createdAt = UtcDateTime()  # noqa: N815
    updatedAt = UtcDateTime()  # noqa: N815


class CreatedWebhook(WebhookOut):
    secret = ma.fields.String(metadata={"description": "Shown only in this answer."})


class WebhookEnvelope(ma.Schema):
    webhook = ma.fields.Nested(WebhookOut)


class CreatedEnvelope(ma.Schema):
    webhook = ma.fields.Nested(CreatedWebhook)


class WebhooksOut(ma.Schema):
    webhooks = ma.fields.List(ma.fields.Nested(WebhookOut))


class DeliveriesQuery(Strict):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(validate=ma.validate.Length(max=200))


class AttemptOut(ma.Schema):
    at = UtcDateTime()
    statusCode = ma.fields.Integer(allow_none=True)  # noqa: N815
    response = ma.fields.String(
        allow_none=True, metadata={"description": "The answer's first KiB, as text."}
    )
    durationMs = ma.fields.Integer()  # noqa: N815
    error = ma.fields.String(allow_none=True)


class DeliveryOut(ma.Schema):
    id = ma.fields.Integer()
    eventId = ma.fields.String(metadata={"description": "The Shoal-Event-Id header."})  # noqa: N815
    event = ma.fields.String()
    subjectId = ma.fields.Integer(  # noqa: N815
        metadata={"description": "The job's, the batch's or the workflow's id."}
    )
    status = ma.fields.String(metadata={"description": "The final status the event reports."})
    state = ma.fields.String(metadata={"description": "PENDING, DELIVERED or FAILED."})
    attempts = ma.fields.Integer()
    nextAttemptAt = UtcDateTime(allow_none=True)  # noqa: N815
    createdAt = UtcDateTime()  # noqa: N815
    finishedAt = UtcDateTime(allow_none=True)  # noqa: N815
    responses = ma.fields.List(ma.fields.Nested(AttemptOut))


class DeliveriesOut(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(DeliveryOut))
    nextCursor = ma.fields.String(allow_none=True)  # noqa: N815
