"""The database as a whole: is it up, may this process migrate it, does it exist.

These run outside any table's statements: a liveness check, the lock that lets
one starting task at a time migrate, and the creation of ``shoal dev``'s database
on its embedded server (run through ``psql``, hence the name filled in).
"""

from __future__ import annotations

# The cheapest round trip: the pool's check of an idle connection, /api/health.
PING = "SELECT 1"

# Held while migrating, so web API tasks starting together migrate one at a time.
LOCK_MIGRATIONS = "SELECT pg_advisory_lock(:key)"
UNLOCK_MIGRATIONS = "SELECT pg_advisory_unlock(:key)"

# ``{name}`` is a fixed identifier of ours (checked by the caller), never user input.
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = '{name}'"
CREATE_DATABASE = 'CREATE DATABASE "{name}"'
