"""Many jobs to list: several users, types, statuses, names, tags, batches and cache
hits, written by SQL in a few statements (the job lists' plans and benchmark)."""

from __future__ import annotations

from sqlalchemy import Engine, text

USERS = 20
TYPES = ("TEST", "POLYGON_STATS", "HEAT", "CELLS")
# User 1 has 30% of the jobs; the others share the rest.
_USER = f"CASE WHEN g % 10 < 3 THEN 1 ELSE 2 + g % {USERS - 1} END"
_FILL = f"""
INSERT INTO jobs (id, type, status, user_id, input_payload, hash, max_attempts,
    lease_seconds, created_at, updated_at, started_at, finished_at, name, tags)
SELECT g,
       (CAST(:types AS text[]))[1 + g % {len(TYPES)}],
       CAST(CASE g % 20 WHEN 0 THEN 'PENDING' WHEN 1 THEN 'IN_PROGRESS' WHEN 2 THEN 'FAILED'
            WHEN 3 THEN 'CANCELLED' ELSE 'SUCCEEDED' END AS job_status),
       u.id, jsonb_build_object('id', g), md5(g::text), 3, 30,
       at, at, CASE WHEN g % 20 > 0 THEN at + interval '1 minute' END,
       CASE WHEN g % 20 > 1 THEN at + interval '1 minute' + make_interval(secs => g % 3600) END,
       CASE WHEN g % 5 > 0 THEN 'run-' || (g % 5000) END,
       CASE WHEN g % 2 = 0
            THEN jsonb_build_object('site', 's' || (g % 50), 'run', (g % 7)::text)
            ELSE '{{}}'::jsonb END
FROM generate_series(1, :count) g
CROSS JOIN LATERAL (SELECT now() - (:count - g) * interval '2.5 seconds' AS at) t
JOIN users u ON u.email = 'lister' || ({_USER}) || '@example.org'
"""
# One batch per user and block of 50,000 jobs; every job has its request.
_BATCHES = """
INSERT INTO job_batches (id, user_id, type, size)
SELECT DISTINCT ON (g / 50000, j.user_id) (g / 50000) * 100 + j.user_id, j.user_id, j.type, 0
FROM generate_series(1, :count) g JOIN jobs j ON j.id = g
"""
_REQUESTS = """
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id)
SELECT j.user_id, j.type, j.input_payload, false, j.id, (j.id / 50000) * 100 + j.user_id
FROM jobs j
"""
# The cache answered user 2 with every 50th job of the others'.
_REUSED = """
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id)
SELECT u.id, j.type, j.input_payload, true, j.id
FROM jobs j JOIN users u ON u.email = 'lister2@example.org'
WHERE j.id % 50 = 0 AND j.user_id <> u.id
"""


def fill(engine: Engine, count: int) -> dict[int, int]:
    """``count`` jobs (ids 1…count), their requests and batches; answers the users'
    ids by number (1…``USERS``)."""
    with engine.begin() as conn:
        users = {
            n: conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, roles)"
                    " VALUES (:email, 'x', ARRAY['ANALYST']) RETURNING id"
                ),
                {"email": f"lister{n}@example.org"},
            ).scalar_one()
            for n in range(1, USERS + 1)
        }
        conn.execute(text(_FILL), {"count": count, "types": list(TYPES)})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('jobs', 'id'), :n)"), {"n": count})
        conn.execute(text(_BATCHES), {"count": count})
        conn.execute(text(_REQUESTS))
        conn.execute(text(_REUSED))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE jobs, job_requests, job_batches")
        )
    return users
