"""Webhook subscriptions, and the outbox their deliveries go through.

The outbox rows are written by the trigger ``webhook_job_ended`` (functions.sql) in the
transaction that ends a job; these statements manage the subscriptions, let the sender
take due deliveries and record what each POST got, and list them.
"""

from __future__ import annotations

from webapi.store.webhook_records import AttemptRecord, WebhookRecord

WEBHOOK = WebhookRecord.columns("w", "")
ATTEMPT = AttemptRecord.columns("t", "")
TAKEN_WEBHOOK = WebhookRecord.columns("w", "webhook__")
# A delivery and its event, as ``DeliveryRecord`` reads them.
DELIVERY = """d.id, d.webhook_id, d.state, d.attempts, d.next_at, d.created_at, d.finished_at,
  CAST(e.uid AS text) AS event_uid, e.kind, e.subject_id, e.status, e.data,
  e.created_at AS event_at"""

INSERT = f"""
WITH w AS (
  INSERT INTO webhooks (user_id, url, secret, events, failures_only, job_id, batch_id,
                        workflow_id, payload_format)
  VALUES (:user_id, :url, :secret, CAST(:events AS varchar[]), :failures_only, :job_id,
          :batch_id, :workflow_id, :payload_format)
  RETURNING *
)
SELECT {WEBHOOK} FROM w
"""

# Whose workflow it is (a subscription may name only one its user may read).
WORKFLOW_OWNER = "SELECT user_id FROM workflows WHERE id = :workflow_id"

BY_ID = f"SELECT {WEBHOOK} FROM webhooks w WHERE w.id = :webhook_id"
LOCK = f"{BY_ID} FOR UPDATE"

# A user's (NULL: everyone's, for an admin), oldest first.
LIST = f"""
SELECT {WEBHOOK} FROM webhooks w
WHERE CAST(:user_id AS integer) IS NULL OR w.user_id = :user_id
ORDER BY w.id
"""

UPDATE = f"""
UPDATE webhooks w SET url = :url, secret = :secret, events = CAST(:events AS varchar[]),
  failures_only = :failures_only, job_id = :job_id, batch_id = :batch_id,
  workflow_id = :workflow_id, payload_format = :payload_format, updated_at = now()
WHERE w.id = :webhook_id
RETURNING {WEBHOOK}
"""

# Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE = "DELETE FROM webhooks WHERE id = :webhook_id"

# Due deliveries, held by moving ``next_at`` ahead (no transaction stays open while a
# receiver answers; a process that dies mid-send leaves them to another after the
# hold). SKIP LOCKED: two processes never take one row. A delivery waits while an
# earlier one of the same subscription and subject is PENDING, so a job's events
# arrive in order.
TAKE = f"""
WITH taken AS (
  UPDATE webhook_deliveries d
  SET next_at = now() + make_interval(secs => :hold), attempts = d.attempts + 1
  WHERE d.id IN (
    SELECT o.id FROM webhook_deliveries o
    WHERE o.state = 'PENDING' AND o.next_at <= now()
      AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries p
        WHERE p.state = 'PENDING' AND p.webhook_id = o.webhook_id
          AND p.sequence_key = o.sequence_key AND p.id < o.id)
    ORDER BY o.next_at, o.id LIMIT :batch FOR UPDATE SKIP LOCKED)
  RETURNING d.*
)
SELECT {DELIVERY}, {TAKEN_WEBHOOK}
FROM taken d JOIN webhook_events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
ORDER BY d.id
"""

RECORD_ATTEMPT = """
INSERT INTO webhook_attempts (delivery_id, status_code, response_excerpt, duration_ms, error)
VALUES (:delivery_id, :status_code, :excerpt, :duration_ms, :error)
"""

# The outcome of the try numbered ``:attempts``; a later try (the hold ran out and
# another process took the row) owns the row, and this one changes nothing.
SETTLE = """
UPDATE webhook_deliveries SET state = CAST(:state AS text),
  next_at = now() + make_interval(secs => :delay),
  finished_at = CASE WHEN CAST(:state AS text) = 'PENDING' THEN NULL ELSE now() END
WHERE id = :delivery_id AND attempts = :attempts AND state = 'PENDING'
"""

# Retention: events older than it whose every delivery was settled (DELIVERED or FAILED)
# that long ago, oldest first, a batch at a time; their deliveries and tries go with them
# (ON DELETE CASCADE). A PENDING delivery keeps its event.
PRUNE = """
DELETE FROM webhook_events WHERE id IN (
  SELECT e.id FROM webhook_events e
  WHERE e.created_at < now() - make_interval(secs => :retention)
    AND NOT EXISTS (
      SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id
        AND (d.state = 'PENDING' OR d.finished_at >= now() - make_interval(secs => :retention)))
  ORDER BY e.created_at LIMIT :batch
)
"""

# A subscription's deliveries, newest first, a page at a time.
DELIVERIES = f"""
SELECT {DELIVERY} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
WHERE d.webhook_id = :webhook_id AND (CAST(:before AS bigint) IS NULL OR d.id < :before)
ORDER BY d.id DESC LIMIT :limit
"""

ATTEMPTS_OF = f"""
SELECT {ATTEMPT} FROM webhook_attempts t WHERE t.delivery_id = ANY (:delivery_ids)
ORDER BY t.delivery_id, t.id
"""
