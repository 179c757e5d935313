"""Validation of GeoJSON polygons: Polygon or MultiPolygon, bare or in a Feature."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import ValidationError, fields

_POLYGON_TYPES = ("Polygon", "MultiPolygon")


def polygon_geometry(value: Any) -> dict[str, Any]:
    """The geometry of a GeoJSON Polygon/MultiPolygon (bare or Feature); raises ValueError."""
    if not isinstance(value, dict):
        raise ValueError("must be a GeoJSON object")
    if value.get("type") == "Feature":
        geometry = value.get("geometry")
        if not isinstance(geometry, dict):
            raise ValueError("Feature has no geometry object")
        value = geometry
    geometry_: dict[str, Any] = value
    kind = geometry_.get("type")
    if kind not in _POLYGON_TYPES:
        raise ValueError(f"geometry type must be Polygon or MultiPolygon, got {kind!r}")
    coordinates = value.get("coordinates")
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        raise ValueError("coordinates must be a non-empty array")
    for index, rings in enumerate(polygons):
        _check_polygon(rings, f"polygon {index}" if kind == "MultiPolygon" else "polygon")
    return geometry_


def polygon_rings(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    """Each polygon of a validated geometry as a list of rings of [lon, lat]."""
    coordinates = geometry["coordinates"]
    return [coordinates] if geometry["type"] == "Polygon" else list(coordinates)


def _check_polygon(rings: Any, where: str) -> None:
    if not isinstance(rings, list) or not rings:
        raise ValueError(f"{where} must be a non-empty array of linear rings")
    for index, ring in enumerate(rings):
        _check_ring(ring, f"{where}, ring {index}")


def _check_ring(ring: Any, where: str) -> None:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where} must have at least 4 positions")
    for position in ring:
        _check_position(position, where)
    if ring[0][:2] != ring[-1][:2]:
        raise ValueError(f"{where} is not closed (first and last positions differ)")


def _check_position(position: Any, where: str) -> None:
    if not isinstance(position, list) or len(position) not in (2, 3):
        raise ValueError(f"{where} has a position that is not [longitude, latitude]")
    for number in position:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{where} has a non-numeric coordinate")
        if not math.isfinite(number):
            raise ValueError(f"{where} has a non-finite coordinate")
    lon, lat = position[0], position[1]
    if not -180 <= lon <= 180:
        raise ValueError(f"{where} has longitude {lon} outside [-180, 180]")
    if not -90 <= lat <= 90:
        raise ValueError(f"{where} has latitude {lat} outside [-90, 90]")


class GeoJSONPolygon(fields.Field[dict[str, Any]]):
    """A marshmallow field that accepts a valid GeoJSON polygon and keeps it as given."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            polygon_geometry(value)
        except ValueError as error:
            raise ValidationError(f"Invalid GeoJSON: {error}.") from None
        assert isinstance(value, dict)
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value
