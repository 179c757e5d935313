"""Frozen rows of the webhook tables: a subscription, a delivery, one of its attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapi.store.records import Record


@dataclass(frozen=True)
class WebhookRecord(Record):
    id: int
    user_id: int
    url: str
    secret: str
    events: list[str]
    failures_only: bool
    job_id: int | None
    batch_id: int | None
    payload_format: str
    workflow_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryRecord(Record):
    """A delivery with its event (``kind``, ``subject_id``, ``status``, ``data``)."""

    id: int
    webhook_id: int
    state: str
    attempts: int
    next_at: datetime
    created_at: datetime
    finished_at: datetime | None
    event_uid: str
    kind: str
    subject_id: int
    status: str
    data: dict[str, Any]
    event_at: datetime


@dataclass(frozen=True)
class AttemptRecord(Record):
    id: int
    delivery_id: int
    created_at: datetime
    status_code: int | None
    response_excerpt: str | None
    duration_ms: int
    error: str | None
