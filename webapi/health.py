"""``/api/health``: 200 while the database answers, 503 while it does not. No auth."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import Response, jsonify
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from webapi.blueprint import Blueprint
from webapi.errors import DATABASE_DOWN
from webapi.services import services

log = logging.getLogger(__name__)

blp = Blueprint("health", __name__, url_prefix="/api/health", description="Liveness")


class HealthOut(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok, or unavailable (with a 503)"})
    message = ma.fields.String()


@blp.route("", strict_slashes=False)
@blp.response(200, HealthOut)
@blp.alt_response(503, schema=HealthOut, description="The database is unreachable")
def health() -> Response:
    """Whether the API can reach its database (``SELECT 1``)."""
    try:
        with services().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            if services().settings.health_requires_manager and not _manager_running(connection):
                return _unavailable("The manager is not running yet.")
    except SQLAlchemyError as error:
        log.warning(
            "health check failed: %s",
            type(error).__name__,
            extra={"action": "health.unavailable"},
        )
        return _unavailable(DATABASE_DOWN)
    return jsonify({"status": "ok"})


def _manager_running(connection: Connection) -> bool:
    """Whether a manager holds its lease (``shoal dev`` is up only once it does)."""
    held = connection.execute(
        text("SELECT 1 FROM leases WHERE name = 'manager' AND expires_at > now()")
    )
    return held.first() is not None


def _unavailable(message: str) -> Response:
    response = jsonify({"status": "unavailable", "message": message})
    response.status_code = 503
    return response
