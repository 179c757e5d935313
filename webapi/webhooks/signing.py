"""What a delivery is: its body (shoal's JSON or a Slack message) and its headers.

The signature is Stripe's scheme: ``Shoal-Signature: t=<unix time>,v1=<hex>`` where
the hex is HMAC-SHA256 with the subscription's secret over ``"<t>." + body``. A
receiver recomputes it and refuses an old ``t``, so a captured delivery cannot be
replayed later; ``Shoal-Event-Id`` is the same on every try of one event, so a
receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

SIGNATURE_HEADER = "Shoal-Signature"
EVENT_ID_HEADER = "Shoal-Event-Id"
EVENT_HEADER = "Shoal-Event"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Shoal-Signature`` header's value."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def body(
    payload_format: str, event_uid: str, kind: str, data: dict[str, Any], created_at: str
) -> bytes:
    """The JSON body of one event for a subscription of ``payload_format``."""
    if payload_format == "slack":
        return json.dumps({"text": slack_text(kind, data)}).encode()
    document = {"id": event_uid, "type": kind, "createdAt": created_at, "data": data}
    return json.dumps(document, separators=(",", ":")).encode()


def slack_text(kind: str, data: dict[str, Any]) -> str:
    """One line for a chat channel: what ended, and how."""
    if "job" in data:
        job = data["job"]
        line = f"shoal: job {job['id']} ({job['type']}) ended {job['status']}"
        return f"{line}: {job['errorMessage']}" if job.get("errorMessage") else line
    if "batch" in data:
        batch = data["batch"]
        counts = ", ".join(f"{n} {status}" for status, n in sorted(batch["counts"].items()))
        return f"shoal: batch {batch['id']} ({batch['type']}) ended {batch['status']} ({counts})"
    if "workflow" in data:
        flow = data["workflow"]
        return f"shoal: workflow {flow['id']} ({flow['name']}) ended {flow['status']}"
    if "budget" in data:
        budget = data["budget"]
        return f"shoal: user {budget['userId']}'s budget for {budget['period']}: {budget['state']}"
    return f"shoal: {kind}"
