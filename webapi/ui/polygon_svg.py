"""A GeoJSON polygon drawn as a small inline SVG (server-side, numbers only)."""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from shared.geojson import polygon_geometry, polygon_rings

SIZE = 240
PAD = 8


def polygon_svg(value: Any, *, label: str = "Polygon preview") -> Markup | None:
    """The polygon's outline scaled into a square SVG; None when it is not a valid polygon."""
    try:
        polygons = polygon_rings(polygon_geometry(value))
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    points = [(p[0], p[1]) for rings in polygons for ring in rings for p in ring]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    # Equirectangular, with longitudes shrunk at the polygon's latitude.
    squeeze = max(math.cos(math.radians((min(lats) + max(lats)) / 2)), 0.01)
    width = (max(lons) - min(lons)) * squeeze or 1e-9
    height = (max(lats) - min(lats)) or 1e-9
    scale = (SIZE - 2 * PAD) / max(width, height)

    def xy(lon: float, lat: float) -> str:
        x = PAD + (lon - min(lons)) * squeeze * scale
        y = PAD + (max(lats) - lat) * scale
        return f"{x:.1f},{y:.1f}"

    path = " ".join(
        "M" + " L".join(xy(p[0], p[1]) for p in ring) + " Z" for rings in polygons for ring in rings
    )
    # Only numbers go into the path; the label is escaped.
    return Markup(  # noqa: S704
        f'<svg class="polygon" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" '
        f'role="img" aria-label="{Markup.escape(label)}">'
        f'<path d="{path}" fill-rule="evenodd"/></svg>'
    )
