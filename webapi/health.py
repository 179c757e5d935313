"""``/api/health``: 200 while the database serves the job tables, 503 while it does not
(down, or those tables locked). No auth."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import Response, jsonify
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from webapi.blueprint import Blueprint
from webapi.errors import DATABASE_DOWN, RETRY_AFTER_SECONDS, is_database_timeout
from webapi.services import services
from webapi.store.compute_state import lease_held
from webapi.store.engine import probe_job_tables

log = logging.getLogger(__name__)

blp = Blueprint("health", __name__, url_prefix="/api/health", description="Liveness")

# The longest the probe waits for them (less when SHOAL_DB_LOCK_TIMEOUT_MS is shorter).
PROBE_MS = 1000
JOBS_LOCKED = (
    "The job tables are locked: job requests would wait for them (SHOAL_DB_LOCK_TIMEOUT_MS)."
)


class HealthOut(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok, or unavailable (with a 503)"})
    message = ma.fields.String()


@blp.route("", strict_slashes=False)
@blp.response(200, HealthOut)
@blp.alt_response(
    503, schema=HealthOut, description="The database is unreachable, or the job tables locked"
)
def health() -> Response:
    """Whether the API can serve jobs: its database answers, and lets it write the job
    tables within a second (a probe that takes their write lock and lets it go)."""
    settings = services().settings
    try:
        with services().engine.connect() as connection:
            # shoal dev is up only once its manager holds its lease.
            if settings.health_requires_manager and not lease_held(connection, "manager"):
                return _unavailable("The manager is not running yet.")
            lock_ms = min(settings.db_lock_timeout_ms or PROBE_MS, PROBE_MS)
            if not _job_tables_free(connection, lock_ms):
                return _unavailable(JOBS_LOCKED)
    except SQLAlchemyError as error:
        log.warning(
            "health check failed: %s",
            type(error).__name__,
            extra={"action": "health.unavailable"},
        )
        return _unavailable(DATABASE_DOWN)
    return jsonify({"status": "ok"})


def _job_tables_free(connection: Connection, lock_ms: int) -> bool:
    """Whether the job tables' write lock comes within ``lock_ms``."""
    try:
        probe_job_tables(connection, lock_ms)
    except SQLAlchemyError as error:
        if is_database_timeout(error):
            return False
        raise
    return True


def _unavailable(message: str) -> Response:
    response = jsonify({"status": "unavailable", "message": message})
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
