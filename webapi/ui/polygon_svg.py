"""A GeoJSON polygon drawn as a small inline SVG (server-side, numbers only).

Drawing runs on the request's greenlet, so its cost is bounded by what is drawn, not by
the polygon: at 240 px a few thousand points show all there is to see. A polygon with
more vertices is thinned first (every k-th vertex of each ring, its largest rings
first), in time proportional to its rings and the points kept; the positions left out
are neither read nor checked (the job type's schema checked them on submission).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from shared.geojson import polygon_geometry, polygon_rings

SIZE = 240
PAD = 8
# Vertices drawn at most (give or take the 4 every kept ring keeps).
MAX_DRAWN_POINTS = 2_000
# Rings drawn at most: a polygon with more is drawn by its largest (most vertices).
MAX_DRAWN_RINGS = 500
# A polygon with more polygons or rings than this is not drawn at all: only counting
# them would take the loop for longer than a page may.
MAX_RINGS = 10_000
_BAD_POLYGON = (ValueError, TypeError, KeyError, IndexError, AttributeError)


@dataclass(frozen=True)
class PolygonDrawing:
    svg: Markup
    vertices: int  # in the polygon
    drawn: int  # in the drawing

    @property
    def note(self) -> str:
        """What the page says of a simplified drawing; empty when every vertex is drawn."""
        if self.drawn >= self.vertices:
            return ""
        return f"Simplified: {self.drawn:,} of its {self.vertices:,} vertices drawn."


def polygon_svg(value: Any, *, label: str = "Polygon preview") -> PolygonDrawing | None:
    """The polygon's outline scaled into a square SVG; None when it is not a valid polygon
    (as far as what is drawn shows) or has more than MAX_RINGS rings."""
    try:
        kind, polygons = _polygons(value)
        vertices = sum(len(ring) for rings in polygons for ring in rings)
        thinned = _thinned(polygons, vertices)
        coordinates = thinned[0] if kind == "Polygon" else thinned
        drawn = polygon_rings(polygon_geometry({"type": kind, "coordinates": coordinates}))
    except _BAD_POLYGON:
        return None
    rings = [ring for rings in drawn for ring in rings]
    path, count = _path(rings)
    # Only numbers go into the path; the label is escaped.
    svg = Markup(  # noqa: S704
        f'<svg class="polygon" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" '
        f'role="img" aria-label="{Markup.escape(label)}">'
        f'<path d="{path}" fill-rule="evenodd"/></svg>'
    )
    return PolygonDrawing(svg, vertices, count)


def _polygons(value: Any) -> tuple[str, list[list[list[Any]]]]:
    """The geometry's type and its polygons' rings, unchecked but for their number."""
    geometry = value["geometry"] if value["type"] == "Feature" else value
    kind, coordinates = geometry["type"], geometry["coordinates"]
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if len(polygons) > MAX_RINGS or sum(len(rings) for rings in polygons) > MAX_RINGS:
        raise ValueError("too many rings to draw")
    return kind, polygons


def _thinned(polygons: list[list[list[Any]]], vertices: int) -> list[list[list[Any]]]:
    """The polygons with about MAX_DRAWN_POINTS vertices: their largest rings, each cut to
    every k-th vertex (keeping at least 4, and its closing one)."""
    if vertices <= MAX_DRAWN_POINTS:
        return polygons
    rings = [ring for rings in polygons for ring in rings]
    kept = {id(ring) for ring in heapq.nlargest(MAX_DRAWN_RINGS, rings, key=len)}
    step = math.ceil(sum(len(ring) for ring in rings if id(ring) in kept) / MAX_DRAWN_POINTS)
    thinned = [[_every(ring, step) for ring in rings if id(ring) in kept] for rings in polygons]
    return [rings for rings in thinned if rings]


def _every(ring: list[Any], step: int) -> list[Any]:
    """Every ``step``-th vertex of a ring and its closing one, at least 4 where it has them."""
    step = max(1, min(step, (len(ring) - 1) // 3))
    return ring[: len(ring) - 1 : step] + ring[-1:]


def _path(rings: list[list[list[float]]]) -> tuple[str, int]:
    """An SVG path of the rings (equirectangular, longitudes shrunk at the polygon's
    latitude) and how many points it has; linear in the points."""
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    west, north = min(lons), max(lats)
    squeeze = max(math.cos(math.radians((min(lats) + north) / 2)), 0.01)
    width = (max(lons) - west) * squeeze or 1e-9
    height = (north - min(lats)) or 1e-9
    scale = (SIZE - 2 * PAD) / max(width, height)
    x_scale = squeeze * scale
    path = " ".join(
        "M"
        + " L".join(
            f"{PAD + (p[0] - west) * x_scale:.1f},{PAD + (north - p[1]) * scale:.1f}" for p in ring
        )
        + " Z"
        for ring in rings
    )
    return path, len(lons)
