"""``/api/health``: 200 while the database answers, 503 while it does not. No auth."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from webapi.blueprint import Blueprint
from webapi.errors import DATABASE_DOWN
from webapi.services import services
from webapi.store.compute_state import lease_held
from webapi.store.engine import ping

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
    requires_manager = services().settings.health_requires_manager
    try:
        with services().engine.connect() as connection:
            ping(connection)
            # shoal dev is up only once its manager holds its lease.
            if requires_manager and not lease_held(connection, "manager"):
                return _unavailable("The manager is not running yet.")
    except SQLAlchemyError as error:
        log.warning(
            "health check failed: %s",
            type(error).__name__,
            extra={"action": "health.unavailable"},
        )
        return _unavailable(DATABASE_DOWN)
    return jsonify({"status": "ok"})


def _unavailable(message: str) -> Response:
    response = jsonify({"status": "unavailable", "message": message})
    response.status_code = 503
    return response
