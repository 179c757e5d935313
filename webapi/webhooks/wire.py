"""The JSON of a subscription and of a delivery, as the API and the dashboard show them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webapi.store.webhook_records import AttemptRecord, DeliveryRecord, WebhookRecord


def webhook_wire(found: WebhookRecord) -> dict[str, Any]:
    """Everything but the secret."""
    return {
        "id": found.id,
        "userId": found.user_id,
        "url": found.url,
        "events": found.events,
        "failuresOnly": found.failures_only,
        "jobId": found.job_id,
        "batchId": found.batch_id,
        "workflowId": found.workflow_id,
        "format": found.payload_format,
        "createdAt": found.created_at,
        "updatedAt": found.updated_at,
    }


def delivery_wire(found: DeliveryRecord, tries: Sequence[AttemptRecord]) -> dict[str, Any]:
    return {
        "id": found.id,
        "eventId": found.event_uid,
        "event": found.kind,
        "subjectId": found.subject_id,
        "status": found.status,
        "state": found.state,
        "attempts": found.attempts,
        "nextAttemptAt": found.next_at if found.state == "PENDING" else None,
        "createdAt": found.created_at,
        "finishedAt": found.finished_at,
        "responses": [
            {
                "at": t.created_at,
                "statusCode": t.status_code,
                "response": t.response_excerpt,
                "durationMs": t.duration_ms,
                "error": t.error,
            }
            for t in tries
        ],
    }
