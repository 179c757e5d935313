"""The two job types that ship with shoal, exactly as the contract defines them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.geojson import GeoJSONPolygon
from shared.jobtypes.registry import JobTypeSpec


class TestInput(Schema):
    id = fields.Integer(required=True, strict=True)
    durationSeconds = fields.Float(  # noqa: N815 - wire name
        validate=validate.Range(min=0, max=3600), allow_nan=False
    )
    fail = fields.Boolean()


class EmptyResult(Schema):
    """A result with no fields (``{}``); any key is refused."""


class PolygonStatsInput(Schema):
    polygon = GeoJSONPolygon(
        required=True,
        metadata={
            "description": "A GeoJSON Polygon or MultiPolygon (bare, or the geometry of a"
            " Feature) in WGS84 longitude, latitude"
        },
    )


class PolygonStatsResult(Schema):
    area_km2 = fields.Float(required=True, validate=validate.Range(min=0))
    perimeter_km = fields.Float(required=True, validate=validate.Range(min=0))
    centroid = fields.List(fields.Float(), required=True, validate=validate.Length(equal=2))
    bbox = fields.List(fields.Float(), required=True, validate=validate.Length(equal=4))


TEST = JobTypeSpec(
    name="TEST",
    input_schema=TestInput,
    result_schema=EmptyResult,
    lease_seconds=30,
    max_attempts=3,
    cache_results=True,
    # Above the longest durationSeconds (3600), so no valid TEST job hits it.
    timeout_seconds=3900,
    description="Waits durationSeconds, writes result.json, succeeds (or fails when fail is true).",
    example_input={"id": 1, "durationSeconds": 5},
)

POLYGON_STATS = JobTypeSpec(
    name="POLYGON_STATS",
    input_schema=PolygonStatsInput,
    result_schema=PolygonStatsResult,
    lease_seconds=60,
    max_attempts=3,
    cache_results=True,
    description="Geodesic area, perimeter, centroid and bounding box of a polygon on WGS84.",
    # A reef-sized square off Cairns, about 10 km a side.
    example_input={
        "polygon": {
            "type": "Polygon",
            "coordinates": [
                [[146.0, -16.9], [146.1, -16.9], [146.1, -16.8], [146.0, -16.8], [146.0, -16.9]]
            ],
        }
    },
)

BUILTIN_TYPES = (TEST, POLYGON_STATS)
