"""Accounts: users, their roles and fair-share quota, pre-approved emails, the audit log.

Emails are stored lower-cased and unique whatever their case (a unique index on
``lower(email)``), so every lookup is by ``lower(email)``. Inserts that may meet an
existing email do nothing (``ON CONFLICT DO NOTHING``) and answer no row: the
caller says "already exists" instead of failing the transaction.
"""

from __future__ import annotations

from webapi.store.sql.fragments import PRE_APPROVAL, USER

USER_BY_ID = f"SELECT {USER} FROM users u WHERE u.id = :user_id"

# Locked by a password change, so two changes of one account never interleave.
LOCK_USER = f"{USER_BY_ID} FOR UPDATE"

USER_BY_EMAIL = f"SELECT {USER} FROM users u WHERE lower(u.email) = :email"

USERS = f"SELECT {USER} FROM users u ORDER BY u.id"

# The oldest admin: the default owner of keys created from the command line.
FIRST_ADMIN = f"SELECT {USER} FROM users u WHERE 'ADMIN' = ANY(u.roles) ORDER BY u.id LIMIT 1"

INSERT_USER = f"""
WITH u AS (
  INSERT INTO users (email, password_hash, roles, weight, max_pending, max_running, system)
  VALUES (:email, :password_hash, CAST(:roles AS varchar[]), :weight, :max_pending,
          :max_running, :system)
  ON CONFLICT DO NOTHING
  RETURNING *
)
SELECT {USER} FROM u
"""

SET_ROLES = f"""
UPDATE users u SET roles = CAST(:roles AS varchar[]), updated_at = now() WHERE u.id = :user_id
RETURNING {USER}
"""

# A new password; the caller also revokes the account's refresh tokens.
SET_PASSWORD = """
UPDATE users SET password_hash = :password_hash, updated_at = now() WHERE id = :user_id
"""

# The same password hashed with today's parameters (at login): not a change of the account.
REHASH_PASSWORD = "UPDATE users SET password_hash = :password_hash WHERE id = :user_id"

# Cascades to everything the user owns; the audit log keeps its rows (user_id NULL).
DELETE_USER = "DELETE FROM users WHERE id = :user_id"

# A user's fair-share weight and limits. The claim reads weight and max running from
# the user's job_loads rows, so those change with the user's row, in one transaction.
SET_QUOTA = f"""
UPDATE users u SET weight = :weight, max_pending = :max_pending, max_running = :max_running,
    updated_at = now()
WHERE u.id = :user_id
RETURNING {USER}
"""
SET_LOAD_QUOTA = """
UPDATE job_loads SET weight = :weight, max_running = :max_running WHERE user_id = :user_id
"""

PRE_APPROVAL_BY_EMAIL = (
    f"SELECT {PRE_APPROVAL} FROM pre_approved_users p WHERE lower(p.email) = :email"
)

# Registration takes an unused pre-approval and locks it: two registrations of one
# email never both use it.
LOCK_UNUSED_PRE_APPROVAL = f"{PRE_APPROVAL_BY_EMAIL} AND NOT p.used FOR UPDATE"

USE_PRE_APPROVAL = "UPDATE pre_approved_users SET used = true WHERE id = :approval_id"

INSERT_PRE_APPROVAL = f"""
WITH p AS (
  INSERT INTO pre_approved_users (email, roles) VALUES (:email, CAST(:roles AS varchar[]))
  ON CONFLICT DO NOTHING
  RETURNING *
)
SELECT {PRE_APPROVAL} FROM p
"""

PRE_APPROVALS = f"SELECT {PRE_APPROVAL} FROM pre_approved_users p ORDER BY p.id"

DELETE_PRE_APPROVAL = "DELETE FROM pre_approved_users WHERE id = :approval_id RETURNING email"

# One entry of the audit log, written in the transaction of the change it records.
ADD_AUDIT_ENTRY = """
INSERT INTO user_logs (action, user_id, actor_id, metadata)
VALUES (CAST(:action AS audit_action), :user_id, :actor_id, CAST(:metadata AS jsonb))
"""
