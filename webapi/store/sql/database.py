"""The database as a whole: is it up, are the job tables free, may this process
migrate it, does it exist.

These run outside any table's statements: a liveness check, /api/health's probe of
the job tables' write lock, the lock that lets one starting task at a time migrate,
and the creation of ``shoal dev``'s database on its embedded server (run through
``psql``, hence the name filled in).
"""

from __future__ import annotations

# The cheapest round trip: the pool's check of an idle connection.
PING = "SELECT 1"

# What every job request writes: while one of them is locked, those requests would wait.
JOB_TABLES = ("jobs", "job_requests", "job_assignments", "job_loads")

# /api/health's probe: their write lock (ROW EXCLUSIVE, what an insert or update takes),
# waited for no longer than :ms (e.g. '1000ms') in this transaction, which is then
# rolled back; a lock that does not come fails with the lock timeout, not a hang.
LOCK_TIMEOUT_HERE = "SELECT set_config('lock_timeout', :ms, true)"
LOCK_JOB_TABLES = f"LOCK TABLE {', '.join(JOB_TABLES)} IN ROW EXCLUSIVE MODE"

# Held while migrating, so web API tasks starting together migrate one at a time.
LOCK_MIGRATIONS = "SELECT pg_advisory_lock(:key)"
UNLOCK_MIGRATIONS = "SELECT pg_advisory_unlock(:key)"

# ``{name}`` is a fixed identifier of ours (checked by the caller), never user input.
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = '{name}'"
CREATE_DATABASE = 'CREATE DATABASE "{name}"'
