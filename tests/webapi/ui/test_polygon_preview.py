"""The polygon preview is bounded by what it draws, not by the polygon: a large one is
thinned (and the page says so), a huge one is not drawn, and the job page prints at most
``SHOWN_CHARS`` of its input. tests/e2e/test_loop_blocking.py views such a page live."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login
from webapi.ui import polygon_svg as drawing
from webapi.ui.jobs import SHOWN_CHARS
from webapi.ui.polygon_svg import polygon_svg


def ring(vertices: int, *, lon: float = 150.0, radius: float = 0.5) -> list[list[float]]:
    """A closed ring of ``vertices`` distinct vertices around (lon, -30)."""
    points = [
        [
            round(lon + radius * math.cos(2 * math.pi * i / vertices), 6),
            round(-30 + radius * math.sin(2 * math.pi * i / vertices), 6),
        ]
        for i in range(vertices)
    ]
    return [*points, points[0]]


def drawn_points(svg: str) -> int:
    (path,) = re.findall(r' d="([^"]*)"', svg)
    return len(re.findall(r"-?\d+\.\d,-?\d+\.\d", path))


def test_a_small_polygon_is_drawn_whole() -> None:
    found = polygon_svg({"type": "Polygon", "coordinates": [ring(100), ring(10, radius=0.1)]})
    assert found is not None
    assert (found.vertices, found.drawn, found.note) == (112, 112, "")
    assert drawn_points(found.svg) == 112


def test_a_large_polygon_is_thinned_to_a_few_thousand_points_and_says_so() -> None:
    found = polygon_svg({"type": "Polygon", "coordinates": [ring(50_000), ring(40, radius=0.1)]})
    assert found is not None
    assert found.vertices == 50_042
    assert drawn_points(found.svg) == found.drawn
    assert drawing.MAX_DRAWN_POINTS / 2 < found.drawn <= drawing.MAX_DRAWN_POINTS + 8
    assert found.note == f"Simplified: {found.drawn:,} of its 50,042 vertices drawn."
    assert found.svg.count("M") == 2  # both rings, each still a ring


def test_the_vertices_left_out_are_never_read() -> None:
    """What the drawing costs does not grow with the polygon: the thinned-out positions
    are not even looked at (here they are not positions at all)."""
    outline = ring(100_000)
    junk: list[Any] = [outline[0], *([None] * (len(outline) - 2)), outline[-1]]
    step = math.ceil(len(outline) / drawing.MAX_DRAWN_POINTS)
    junk[: len(junk) - 1 : step] = outline[: len(outline) - 1 : step]
    found = polygon_svg({"type": "Polygon", "coordinates": [junk]})
    assert found is not None and found.vertices == 100_001
    assert found.drawn == len(outline[: len(outline) - 1 : step]) + 1


def test_many_rings_are_drawn_by_their_largest() -> None:
    parts = [[ring(8 if i % 2 else 400, lon=150 + i * 0.005)] for i in range(3_000)]
    found = polygon_svg({"type": "MultiPolygon", "coordinates": parts})
    assert found is not None
    assert found.vertices == 1_500 * 9 + 1_500 * 401
    assert found.svg.count("M") == drawing.MAX_DRAWN_RINGS
    assert found.drawn <= drawing.MAX_DRAWN_POINTS + 5 * drawing.MAX_DRAWN_RINGS


def test_a_polygon_with_too_many_rings_is_not_drawn() -> None:
    square = [[0, 0], [1, 0], [1, 1], [0, 0]]
    parts = [[square] for _ in range(drawing.MAX_RINGS + 1)]
    assert polygon_svg({"type": "MultiPolygon", "coordinates": parts}) is None
    assert polygon_svg({"type": "MultiPolygon", "coordinates": parts[:-1]}) is not None


def test_what_is_not_a_polygon_is_not_drawn() -> None:
    for value in (
        None,
        [],
        {"type": "Point", "coordinates": [1, 2]},
        {"type": "Polygon", "coordinates": "abc"},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},  # 3 positions
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},  # open
        {"type": "Feature", "geometry": [1]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 91], [0, 0]]]},
    ):
        assert polygon_svg(value) is None, value
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring(4)]}}
    assert polygon_svg(feature) is not None


def test_the_job_page_of_a_large_polygon(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    polygon = {"type": "Polygon", "coordinates": [ring(25_000)]}
    preview = client.post(
        "/jobs/new/polygon-preview",
        data={"input.polygon": json.dumps(polygon)},
        headers={"X-CSRF-TOKEN": csrf},
    )
    assert re.search(r"Simplified: [\d,]+ of its 25,001 vertices drawn", preview.text)
    made = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "POLYGON_STATS", "input.polygon": json.dumps(polygon)},
    )
    assert made.status_code == 303, made.text
    page = client.get(made.headers["Location"]).text
    assert re.search(r"<figcaption>The input polygon. Simplified: [\d,]+ of its 25,001", page)
    (shown,) = re.findall(r'aria-label="Input as JSON">([^<]*)</pre>', page)
    assert shown.endswith(f"… (cut at {SHOWN_CHARS:,} characters)")
    assert len(shown) < SHOWN_CHARS * 1.2  # escaped quotes are 5 characters each
