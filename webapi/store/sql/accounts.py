"""Accounts: users, their roles and fair-share quota, pre-approved emails, the audit log."""

from __future__ import annotations

# A user's fair-share weight and limits. The claim reads weight and max running from
# the user's job_loads rows, so those change with the user's row, in one transaction.
SET_QUOTA = """
UPDATE users SET weight = :weight, max_pending = :max_pending, max_running = :max_running,
    updated_at = now()
WHERE id = :user_id
"""
SET_LOAD_QUOTA = """
UPDATE job_loads SET weight = :weight, max_running = :max_running WHERE user_id = :user_id
"""
