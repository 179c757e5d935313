"""Webhook subscriptions and their outbox (``webhook_deliveries``).

The rows to send are written by the database itself, in the transaction that ends a
job (the trigger ``webhook_job_ended``); the sender takes due ones with ``take_due``,
posts them and records each try with ``settle``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from webapi.store.prepared import text
from webapi.store.sql import webhooks as sql
from webapi.store.webhook_records import AttemptRecord, DeliveryRecord, WebhookRecord


def insert(conn: Connection, user_id: int, fields: Mapping[str, Any]) -> WebhookRecord:
    """A new subscription; ``fields``: every column but ``id``, ``user_id`` and the times."""
    params = {**fields, "user_id": user_id}
    return WebhookRecord.from_row(conn.execute(text(sql.INSERT), params).mappings().one())


def get(conn: Connection, webhook_id: int, *, lock: bool = False) -> WebhookRecord | None:
    """The subscription, locked until the transaction ends with ``lock``."""
    statement = sql.LOCK if lock else sql.BY_ID
    return WebhookRecord.first_of(conn.execute(text(statement), {"webhook_id": webhook_id}))


def workflow_owner(conn: Connection, workflow_id: int) -> int | None:
    """The workflow's user (None: no such workflow)."""
    found = conn.execute(text(sql.WORKFLOW_OWNER), {"workflow_id": workflow_id}).scalar()
    return None if found is None else int(found)


def listing(conn: Connection, user_id: int | None) -> list[WebhookRecord]:
    """The user's subscriptions (None: everyone's), oldest first."""
    return WebhookRecord.all_of(conn.execute(text(sql.LIST), {"user_id": user_id}))


def update(conn: Connection, webhook_id: int, fields: Mapping[str, Any]) -> WebhookRecord:
    params = {**fields, "webhook_id": webhook_id}
    return WebhookRecord.from_row(conn.execute(text(sql.UPDATE), params).mappings().one())


def delete(conn: Connection, webhook_id: int) -> None:
    conn.execute(text(sql.DELETE), {"webhook_id": webhook_id})


@dataclass(frozen=True)
class Taken:
    """A delivery taken to send, and the subscription it goes to."""

    delivery: DeliveryRecord
    webhook: WebhookRecord


def take_due(engine: Engine, *, hold_seconds: float, batch: int) -> list[Taken]:
    """Up to ``batch`` due deliveries, each held for ``hold_seconds``, oldest first."""
    with engine.begin() as conn:
        rows = conn.execute(text(sql.TAKE), {"hold": hold_seconds, "batch": batch}).mappings()
        return [
            Taken(DeliveryRecord.from_row(row), WebhookRecord.from_row(row, "webhook__"))
            for row in rows
        ]


@dataclass(frozen=True)
class Answer:
    """What one POST got: the status and the start of the body, or an error."""

    duration_ms: int
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None


def settle(
    engine: Engine, delivery: DeliveryRecord, answer: Answer, *, state: str, delay: float
) -> None:
    """Record the try and move the delivery to ``state`` (PENDING: due again after ``delay``)."""
    with engine.begin() as conn:
        conn.execute(
            text(sql.RECORD_ATTEMPT),
            {
                "delivery_id": delivery.id,
                "status_code": answer.status_code,
                "excerpt": answer.excerpt,
                "duration_ms": answer.duration_ms,
                "error": answer.error,
            },
        )
        params = {"delivery_id": delivery.id, "attempts": delivery.attempts}
        conn.execute(text(sql.SETTLE), {**params, "state": state, "delay": delay})


def prune(engine: Engine, retention_seconds: float, *, batch: int = 1000) -> int:
    """Delete the events (their deliveries and tries with them) settled longer ago than
    the retention, ``batch`` per transaction so no lock is held long; how many."""
    total = 0
    while True:
        with engine.begin() as conn:
            params = {"retention": retention_seconds, "batch": batch}
            deleted = int(conn.execute(text(sql.PRUNE), params).rowcount)
        total += deleted
        if deleted < batch:
            return total


def deliveries(
    conn: Connection, webhook_id: int, *, limit: int, before: int | None
) -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
    """A subscription's deliveries, newest first, each with its tries, oldest first."""
    params = {"webhook_id": webhook_id, "limit": limit, "before": before}
    found = DeliveryRecord.all_of(conn.execute(text(sql.DELIVERIES), params))
    ids: Sequence[int] = [d.id for d in found]
    tries: dict[int, list[AttemptRecord]] = {i: [] for i in ids}
    if ids:
        for attempt in AttemptRecord.all_of(
            conn.execute(text(sql.ATTEMPTS_OF), {"delivery_ids": list(ids)})
        ):
            tries[attempt.delivery_id].append(attempt)
    return [(d, tries[d.id]) for d in found]
