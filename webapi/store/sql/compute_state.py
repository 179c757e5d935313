"""Compute state: the manager's singleton lease and small named JSON documents.

A lease belongs to a holder *and* the credential that took it: another credential
can neither renew nor release it, nor learn its holder's id. Documents are
replaced by the lease's holder, or changed under a row lock so concurrent admin
calls never lose a change.
"""

from __future__ import annotations

# Takes the lease when it is free, expired or already ours (same holder, same
# credential); returns the row either way. ``acquired_at`` moves only when the
# holder changes. When the upsert does nothing, the second branch reads the current
# holder (held = false), named only to the credential that holds it.
ACQUIRE_LEASE = """
WITH granted AS (
  INSERT INTO leases AS l (name, holder, credential, expires_at, acquired_at)
  VALUES (:name, :holder, :credential, now() + make_interval(secs => :ttl), now())
  ON CONFLICT (name) DO UPDATE
  SET holder = EXCLUDED.holder,
      credential = EXCLUDED.credential,
      expires_at = EXCLUDED.expires_at,
      acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at
                         ELSE EXCLUDED.acquired_at END
  WHERE l.expires_at < now()
     OR (l.holder = EXCLUDED.holder AND l.credential = EXCLUDED.credential)
  RETURNING l.holder, l.expires_at
)
SELECT true AS held, holder, expires_at FROM granted
UNION ALL
SELECT false AS held, CASE WHEN credential = :credential THEN holder END, expires_at
FROM leases
WHERE name = :name AND NOT EXISTS (SELECT 1 FROM granted)
"""

# Whether anyone holds the lease now (``shoal dev`` is up once its manager does).
LEASE_HELD = "SELECT EXISTS (SELECT 1 FROM leases WHERE name = :name AND expires_at > now())"

# Releases the lease only if this holder, through this credential, still has it.
RELEASE_LEASE = """
DELETE FROM leases WHERE name = :name AND holder = :holder AND credential = :credential
"""

# Whether ``holder`` has the lease through ``credential`` now: only the active
# manager may declare workers lost, since that ends their jobs' attempts.
HOLDS_LEASE = """
SELECT EXISTS (
  SELECT 1 FROM leases
  WHERE name = :name AND holder = :holder AND credential = :credential AND expires_at > now()
)
"""

READ_STATE = "SELECT value, updated_at FROM compute_state WHERE name = :name"

# Replaces a document, only while ``holder`` has lease ``:lease`` through ``credential``.
WRITE_STATE_AS_HOLDER = """
INSERT INTO compute_state (name, value, updated_at)
SELECT :name, CAST(:value AS jsonb), now()
WHERE EXISTS (
  SELECT 1 FROM leases
  WHERE name = :lease AND holder = :holder AND credential = :credential AND expires_at > now()
)
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
RETURNING updated_at
"""

# The row must exist before it can be locked; a concurrent first insert is harmless.
ENSURE_STATE = """
INSERT INTO compute_state (name, value) VALUES (:name, '{}'::jsonb)
ON CONFLICT (name) DO NOTHING
"""

LOCK_STATE = "SELECT value FROM compute_state WHERE name = :name FOR UPDATE"

UPDATE_STATE = """
UPDATE compute_state SET value = CAST(:value AS jsonb), updated_at = now() WHERE name = :name
"""
