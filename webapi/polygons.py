"""``/api/polygons``: GeoJSON polygons, owned by their creator (admins see all)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from shared.geojson import GeoJSONPolygon
from webapi.auth import USER_ROLES, current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.ownership import owned, owner_filter
from webapi.schemas import Strict, UtcDateTime
from webapi.services import services
from webapi.store import polygons as store

blp = Blueprint("polygons", __name__, url_prefix="/api/polygons", description="Polygons")


class PolygonBody(Strict):
    polygon = GeoJSONPolygon(
        required=True,
        metadata={"description": "GeoJSON Polygon or MultiPolygon, bare or in a Feature"},
    )


class PolygonOut(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    polygon = ma.fields.Dict()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PolygonEnvelope(ma.Schema):
    polygon = ma.fields.Nested(PolygonOut)


class PolygonsOut(ma.Schema):
    polygons = ma.fields.List(ma.fields.Nested(PolygonOut))


@blp.route("", strict_slashes=False)
class Polygons(MethodView):
    @require_roles(*USER_ROLES)
    @blp.response(200, PolygonsOut)
    def get(self) -> dict[str, Any]:
        """The caller's polygons (every polygon for an admin), oldest first."""
        with services().transaction() as conn:
            return {"polygons": store.polygons(conn, owner_filter(current_principal()))}

    @require_roles(*USER_ROLES)
    @blp.arguments(PolygonBody)
    @blp.response(200, PolygonEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a polygon owned by the caller."""
        with services().transaction() as conn:
            row = store.insert_polygon(conn, current_principal().user_id, body["polygon"])
            return {"polygon": row}


@blp.route("/<int:polygon_id>")
class PolygonById(MethodView):
    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(200, PolygonEnvelope)
    def get(self, polygon_id: int) -> dict[str, Any]:
        """One polygon (its owner or an admin)."""
        with services().transaction() as conn:
            row = owned(store.polygon(conn, polygon_id), current_principal(), what="Polygon")
            return {"polygon": row}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.arguments(PolygonBody)
    @blp.response(200, PolygonEnvelope)
    def put(self, body: dict[str, Any], polygon_id: int) -> dict[str, Any]:
        """Replace a polygon's geometry."""
        with services().transaction() as conn:
            row = owned(
                store.polygon(conn, polygon_id, lock=True), current_principal(), what="Polygon"
            )
            return {"polygon": store.set_polygon(conn, row.id, body["polygon"])}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(204)
    def delete(self, polygon_id: int) -> None:
        """Delete a polygon and its notes."""
        with services().transaction() as conn:
            row = owned(
                store.polygon(conn, polygon_id, lock=True), current_principal(), what="Polygon"
            )
            store.delete_polygon(conn, row.id)
