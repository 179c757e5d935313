"""POLYGON_STATS against pyproj's geodesic area and perimeter on WGS84 (within 0.5%).

The reference applies the rules of pyproj's ``geometry_area_perimeter`` ring by ring
(``polygon_area_perimeter``): outer area minus holes, all ring lengths summed.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyproj import Geod

from worker.geodesy import polygon_stats

GEOD = Geod(ellps="WGS84")

SQUARE = [[[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01], [0.0, 0.0]]]
AUSTRALIA = [[[113.0, -22.0], [153.0, -28.0], [146.0, -39.0], [115.0, -34.0], [113.0, -22.0]]]
WITH_HOLE = [
    [[145.0, -17.0], [147.0, -17.0], [147.0, -15.0], [145.0, -15.0], [145.0, -17.0]],
    # The hole runs clockwise, as RFC 7946 asks.
    [[145.5, -16.5], [145.5, -15.5], [146.5, -15.5], [146.5, -16.5], [145.5, -16.5]],
]
REEFS = [
    [[[145.0, -17.0], [145.2, -17.0], [145.2, -16.8], [145.0, -16.8], [145.0, -17.0]]],
    WITH_HOLE,
    [[[-10.0, 50.0], [-9.0, 50.0], [-9.5, 51.0], [-10.0, 50.0]]],
]

SHAPES: dict[str, dict[str, Any]] = {
    "small square at the equator": {"type": "Polygon", "coordinates": SQUARE},
    "large polygon": {"type": "Polygon", "coordinates": AUSTRALIA},
    "polygon with a hole": {"type": "Polygon", "coordinates": WITH_HOLE},
    "multipolygon": {"type": "MultiPolygon", "coordinates": REEFS},
}


def _reference(geometry: dict[str, Any]) -> tuple[float, float]:
    parts = geometry["coordinates"]
    parts = [parts] if geometry["type"] == "Polygon" else parts
    area = perimeter = 0.0
    for rings in parts:
        for index, ring in enumerate(rings):
            ring_area, ring_perimeter = GEOD.polygon_area_perimeter(
                [p[0] for p in ring], [p[1] for p in ring]
            )
            area += abs(ring_area) if index == 0 else -abs(ring_area)
            perimeter += ring_perimeter
    return area / 1e6, perimeter / 1e3


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_area_and_perimeter_match_pyproj(name: str) -> None:
    geometry = SHAPES[name]
    area_km2, perimeter_km = _reference(geometry)
    stats = polygon_stats(geometry)
    assert stats.area_km2 == pytest.approx(area_km2, rel=0.005)
    assert stats.perimeter_km == pytest.approx(perimeter_km, rel=0.005)


def test_known_values_and_bbox() -> None:
    square = polygon_stats(SHAPES["small square at the equator"])
    # 0.01° × 0.01° at the equator: about 1.113 km × 1.106 km.
    assert square.area_km2 == pytest.approx(1.2308, rel=0.005)
    assert square.centroid == pytest.approx((0.005, 0.005))
    assert square.bbox == (0.0, 0.0, 0.01, 0.01)
    multi = polygon_stats(SHAPES["multipolygon"])
    assert multi.bbox == (-10.0, -17.0, 147.0, 51.0)


def test_a_hole_subtracts_area_and_adds_perimeter() -> None:
    outer = polygon_stats({"type": "Polygon", "coordinates": WITH_HOLE[:1]})
    holed = polygon_stats(SHAPES["polygon with a hole"])
    assert holed.area_km2 == pytest.approx(outer.area_km2 * 0.75, rel=0.01)
    assert holed.perimeter_km == pytest.approx(outer.perimeter_km * 1.5, rel=0.01)
    assert holed.centroid == pytest.approx((146.0, -16.0), abs=1e-9)


def test_orientation_and_feature_wrapping_do_not_matter() -> None:
    clockwise = [list(reversed(AUSTRALIA[0]))]
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": clockwise},
    }
    assert polygon_stats(feature) == polygon_stats(SHAPES["large polygon"])


def test_a_polygon_across_the_antimeridian() -> None:
    across = {
        "type": "Polygon",
        "coordinates": [
            [[179.0, -1.0], [-179.0, -1.0], [-179.0, 1.0], [179.0, 1.0], [179.0, -1.0]]
        ],
    }
    at_zero = {
        "type": "Polygon",
        "coordinates": [[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]]],
    }
    stats = polygon_stats(across)
    assert stats.area_km2 == pytest.approx(polygon_stats(at_zero).area_km2, rel=1e-9)
    assert abs(stats.centroid[0]) == pytest.approx(180.0)
    assert stats.centroid[1] == pytest.approx(0.0, abs=1e-9)
