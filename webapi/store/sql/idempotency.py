"""Idempotency keys: a submission retried with the same key answers what the first did.

A key (``idempotency_keys``, per user) is taken first thing in the submission's own
transaction and records the request or batch it created before the commit; keys
live a day. ``webapi/store/idempotency.py`` runs these for ``Queue.create`` and
``Batches.create``, and housekeeping forgets old keys.
"""

from __future__ import annotations

# A new key, or one older than a day (taken over), is written, and the submission's
# request or batch is recorded on it before the commit. A live key belongs to an
# earlier submission: this waits for that one's transaction (the primary key) and
# returns nothing, leaving the key locked, and the earlier answer is read instead.
TAKE_KEY = """
INSERT INTO idempotency_keys AS k (user_id, key, fingerprint)
VALUES (:user_id, :key, :fingerprint)
ON CONFLICT (user_id, key) DO UPDATE
  SET fingerprint = excluded.fingerprint, request_id = NULL, batch_id = NULL, created_at = now()
  WHERE k.created_at < now() - interval '1 day'
RETURNING k.key
"""

# A live key's earlier submission, committed by now (TAKE_KEY waited for it): what it
# asked for, to refuse another request with the same key, and what it created.
USED_KEY = """
SELECT fingerprint, request_id, batch_id FROM idempotency_keys
WHERE user_id = :user_id AND key = :key
"""

# The submission that took the key records what it created, in the same transaction,
# so a retry never finds a key without its answer.
KEY_ANSWERED = """
UPDATE idempotency_keys SET request_id = :request_id, batch_id = :batch_id
WHERE user_id = :user_id AND key = :key
"""

# Keys older than a day answer nothing any more; housekeeping deletes them in batches.
FORGET_KEYS = """
DELETE FROM idempotency_keys WHERE (user_id, key) IN (
  SELECT user_id, key FROM idempotency_keys
  WHERE created_at < now() - interval '1 day' LIMIT :batch
)
"""
