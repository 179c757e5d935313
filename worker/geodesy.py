"""Geodesic statistics of a GeoJSON polygon on the WGS84 ellipsoid.

- area: of each polygon, its outer ring minus its holes; a MultiPolygon sums its parts.
- perimeter: the length of every ring, holes included (what pyproj reports too).
- centroid: the area-weighted centroid of the polygon in the plane of longitude and
  latitude (holes subtract), with longitudes unwrapped across the antimeridian and
  brought back into [-180, 180]. Good for labelling and indexing; it is not the
  centroid on the ellipsoid, which differs noticeably only for very large shapes.
- bbox: ``[minLon, minLat, maxLon, maxLat]`` of all positions, as given.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from geographiclib.geodesic import Geodesic

from shared.geojson import polygon_geometry, polygon_rings

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class PolygonStats:
    area_km2: float
    perimeter_km: float
    centroid: tuple[float, float]
    bbox: tuple[float, float, float, float]

    def to_payload(self) -> dict[str, Any]:
        return {
            "area_km2": self.area_km2,
            "perimeter_km": self.perimeter_km,
            "centroid": list(self.centroid),
            "bbox": list(self.bbox),
        }


def polygon_stats(polygon: dict[str, Any]) -> PolygonStats:
    """Stats of a GeoJSON Polygon/MultiPolygon, bare or as a Feature."""
    parts = [[_ring(ring) for ring in rings] for rings in polygon_rings(polygon_geometry(polygon))]
    area = perimeter = 0.0
    for rings in parts:
        for index, ring in enumerate(rings):
            ring_area, ring_perimeter = _geodesic(ring)
            area += ring_area if index == 0 else -ring_area
            perimeter += ring_perimeter
    positions = [point for rings in parts for ring in rings for point in ring]
    lons = [lon for lon, _ in positions]
    lats = [lat for _, lat in positions]
    return PolygonStats(
        area_km2=max(area, 0.0) / 1e6,
        perimeter_km=perimeter / 1e3,
        centroid=_centroid(parts),
        bbox=(min(lons), min(lats), max(lons), max(lats)),
    )


def _ring(coordinates: list[list[float]]) -> Ring:
    return [(float(position[0]), float(position[1])) for position in coordinates]


def _geodesic(ring: Ring) -> tuple[float, float]:
    """Area (m², whichever way the ring turns) and perimeter (m) of one closed ring."""
    polygon = Geodesic.WGS84.Polygon()
    for lon, lat in ring[:-1]:  # the closing position repeats the first
        polygon.AddPoint(lat, lon)
    _, perimeter, area = polygon.Compute(False, True)
    return abs(area), perimeter


def _centroid(parts: list[list[Ring]]) -> tuple[float, float]:
    """The planar area-weighted centroid; falls back to the mean position if degenerate."""
    anchor = parts[0][0][0][0]
    total = sx = sy = 0.0
    for rings in parts:
        for index, ring in enumerate(rings):
            area, cx, cy = _planar(_unwrapped(ring, anchor))
            weight = abs(area) if index == 0 else -abs(area)
            total += weight
            sx += weight * cx
            sy += weight * cy
    if abs(total) < 1e-15:
        points = [_unwrapped(ring, anchor) for rings in parts for ring in rings]
        flat = [p for ring in points for p in ring]
        return _wrap(sum(p[0] for p in flat) / len(flat)), sum(p[1] for p in flat) / len(flat)
    return _wrap(sx / total), sy / total


def _unwrapped(ring: Ring, anchor: float) -> Ring:
    """Longitudes shifted by multiples of 360 so no edge jumps more than 180 degrees."""
    result: Ring = []
    previous = anchor
    for lon, lat in ring:
        shifted = lon + 360 * round((previous - lon) / 360)
        result.append((shifted, lat))
        previous = shifted
    return result


def _planar(ring: Ring) -> tuple[float, float, float]:
    """Signed shoelace area and centroid of a closed ring in the plane."""
    # Relative to the first position, so tiny rings far from (0, 0) keep their precision.
    ox, oy = ring[0]
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise([(x - ox, y - oy) for x, y in ring]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2
    if area == 0:
        return 0.0, ox, oy
    return area, ox + cx / (6 * area), oy + cy / (6 * area)


def _wrap(lon: float) -> float:
    return (lon + 180) % 360 - 180 if not -180 <= lon <= 180 else lon
