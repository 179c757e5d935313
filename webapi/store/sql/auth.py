"""Credentials: API keys, refresh tokens (and the browser sessions built on them), and
the throttles on guessing and the login forms' spent nonces (``login_attempts``).

Keys and tokens are stored as SHA-256 hashes and looked up by hash. A change that
narrows what a credential may do is announced on ``shoal_auth_events``
(``fragments.NOTIFY``, in the changing transaction), so every API process forgets
what it cached of it.
"""

from __future__ import annotations

from webapi.store.sql.fragments import API_KEY, USER

INSERT_API_KEY = f"""
WITH k AS (
  INSERT INTO api_keys (name, key_hash, prefix, roles, user_id)
  VALUES (:name, :key_hash, :prefix, CAST(:roles AS varchar[]), :user_id)
  RETURNING *
)
SELECT {API_KEY} FROM k
"""

# Every live key, or one user's (:user_id null: everyone's).
LIVE_API_KEYS = f"""
SELECT {API_KEY} FROM api_keys k
WHERE NOT k.revoked AND (CAST(:user_id AS integer) IS NULL OR k.user_id = :user_id)
ORDER BY k.id
"""

# Of two concurrent revokes, the second waits for the row, finds it revoked, and
# changes nothing (no row: 404). With :user_id, only that user's key (another's: 404).
REVOKE_API_KEY = f"""
UPDATE api_keys k SET revoked = true
WHERE k.id = :key_id AND NOT k.revoked
  AND (CAST(:user_id AS integer) IS NULL OR k.user_id = :user_id)
RETURNING {API_KEY}
"""

# Who a live key acts for (on a cache miss). Its use is recorded at most once per
# ``:resolution`` seconds: recording every use would make each request a write.
LOAD_API_KEY = """
WITH k AS (
  SELECT id, user_id, roles, last_used_at FROM api_keys
  WHERE key_hash = :key_hash AND NOT revoked
), used AS (
  UPDATE api_keys a SET last_used_at = now() FROM k
  WHERE a.id = k.id
    AND (k.last_used_at IS NULL OR k.last_used_at <= now() - make_interval(secs => :resolution))
)
SELECT k.id, k.user_id, k.roles FROM k
"""

INSERT_REFRESH_TOKEN = """
INSERT INTO refresh_tokens (user_id, token_hash, expires_at)
VALUES (:user_id, :token_hash, now() + make_interval(secs => :seconds))
"""

# The user of a live (not revoked, not expired) refresh token: a token refresh, or a
# dashboard request (a browser session is a refresh token's row).
USER_OF_REFRESH_TOKEN = f"""
SELECT {USER} FROM refresh_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = :token_hash AND NOT t.revoked AND t.expires_at > now()
"""

# Logout: revokes a live token and answers its user (no row: it was not live).
REVOKE_REFRESH_TOKEN = f"""
UPDATE refresh_tokens t SET revoked = true FROM users u
WHERE u.id = t.user_id AND t.token_hash = :token_hash AND NOT t.revoked AND t.expires_at > now()
RETURNING {USER}
"""

# A password change ends every session of the account.
REVOKE_REFRESH_TOKENS_OF_USER = """
UPDATE refresh_tokens SET revoked = true WHERE user_id = :user_id AND NOT revoked
"""

# A dashboard login's token lives as long as a browser session, not a refresh token.
SET_REFRESH_TOKEN_LIFETIME = """
UPDATE refresh_tokens SET expires_at = now() + make_interval(secs => :seconds)
WHERE token_hash = :token_hash
"""

# How long until none of ``:keys`` is held back. The clock, not now(): a caller that
# waited on a concurrent count's row lock has an older transaction time, which would
# stretch the wait it is told.
HELD_FOR = """
SELECT extract(epoch FROM max(locked_until) - clock_timestamp())
FROM login_attempts WHERE key = ANY(:keys) AND locked_until > clock_timestamp()
"""

# One statement per key, so concurrent events never lose a count, and an event that
# finds the key held back (by a concurrent one, too) counts nothing. ``n`` is the
# count after this event; from the bound on, the key is held back for
# first_delay * 2^(n - bound) seconds, at most max_delay.
COUNT_ATTEMPT = """
INSERT INTO login_attempts AS a (key, window_start, failures, locked_until)
VALUES (:key, now(), 1, CASE WHEN :bound <= 1
                             THEN now() + make_interval(secs => :first_delay) END)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                        THEN now() ELSE a.window_start END,
    failures = CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                    THEN 1 ELSE a.failures + 1 END,
    locked_until = (
        SELECT CASE WHEN n >= :bound THEN now() + make_interval(
            secs => least(:max_delay, :first_delay * power(2, least(n - :bound, 60))))
        END
        FROM (SELECT CASE WHEN a.window_start <= now() - make_interval(secs => :window)
                          THEN 1 ELSE a.failures + 1 END AS n) AS counted)
WHERE a.locked_until IS NULL OR a.locked_until <= now()
RETURNING failures
"""

# Old windows are useless; each count removes a few of its kind (keys of other kinds
# have other windows) so the table stays small. Spent login form nonces go the same
# way once their tokens have expired.
SWEEP_ATTEMPTS = """
DELETE FROM login_attempts WHERE key IN (
    SELECT key FROM login_attempts
    WHERE key LIKE :kind AND window_start < now() - make_interval(secs => :window)
      AND (locked_until IS NULL OR locked_until < now())
    LIMIT 100)
"""

CLEAR_ATTEMPTS = "DELETE FROM login_attempts WHERE key = :key"

# A right password takes back the count its attempt made. The hold that count may
# have started goes too: any earlier hold had ended, or the attempt was not admitted.
UNCOUNT_ATTEMPT = """
UPDATE login_attempts SET failures = greatest(failures - 1, 0), locked_until = NULL
WHERE key = :key
"""

# A login form's token is spent by the first login that presents it: its nonce is
# written under ``login-form:<nonce>`` in one statement, so a replay, even a
# concurrent one, finds it there. A row back means this is its first use.
SPEND_NONCE = """
INSERT INTO login_attempts (key, window_start, failures) VALUES (:key, now(), 0)
ON CONFLICT (key) DO NOTHING
RETURNING key
"""
