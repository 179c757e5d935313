"""No import circle between any two (or more) modules of shoal's packages, and the
deferred imports keep out what their reasons say.

Every import grimp finds counts: at the top of a module, inside a function (a deferred
import runs all the same, and that is how circles used to hide) and under
``TYPE_CHECKING`` (a circle through annotations still ties two modules together; the
cure, moving the shared type down, is the same). What Python imports implicitly does
not: importing ``a.b.c`` runs ``a/__init__.py`` first, but a module that names its
package explicitly (``from a import name``) does count.

Run alone: ``.venv/bin/python -m pytest tests/test_import_graph.py -q``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import grimp
import pytest

PACKAGES = ("shared", "webapi", "manager", "worker", "shoal_cli")
ROOT = Path(__file__).resolve().parents[1]


def import_circles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every shortest circle through a direct import, each once, as (a, b, ..., a)."""
    found: set[tuple[str, ...]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.add(_rotated((importer, *back[:-1])))
    return sorted(circle + circle[:1] for circle in found)


def _rotated(circle: tuple[str, ...]) -> tuple[str, ...]:
    """The same circle starting from its smallest module, so each is listed once."""
    start = circle.index(min(circle))
    return circle[start:] + circle[:start]


def describe(graph: grimp.ImportGraph, circle: tuple[str, ...]) -> str:
    steps = []
    for importer, imported in pairwise(circle):
        where = ", ".join(
            f"line {d['line_number']}: {d['line_contents']}"
            for d in graph.get_import_details(importer=importer, imported=imported)
        )
        steps.append(f"    {importer} -> {imported}  ({where})")
    return " -> ".join(circle) + "\n" + "\n".join(steps)


def test_no_module_of_ours_takes_part_in_an_import_circle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    circles = import_circles(graph)
    assert not circles, (
        f"{len(circles)} import circle(s); move what both modules need into a third one "
        "that imports neither (a deferred import only hides a circle):\n"
        + "\n".join(describe(graph, circle) for circle in circles)
    )


def test_the_check_finds_a_circle_of_three_and_one_of_two() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("pkg.a", "pkg.b"),
        ("pkg.b", "pkg.c"),
        ("pkg.c", "pkg.a"),
        ("pkg.c", "pkg.d"),
        ("pkg.d", "pkg.e"),
        ("pkg.e", "pkg.d"),
        ("pkg.e", "pkg.f"),
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert import_circles(graph) == [
        ("pkg.a", "pkg.b", "pkg.c", "pkg.a"),
        ("pkg.d", "pkg.e", "pkg.d"),
    ]


@pytest.mark.parametrize(
    ("module", "kept_out"),
    [
        ("manager.commands", "boto3"),  # the local backend starts without it
        ("webapi.app", "boto3"),  # neither an ECS fleet nor S3 storage configured
        ("shared.storage", "boto3"),  # the base install has none
        ("webapi.commands", "alembic"),  # only `shoal db upgrade` needs it
        ("webapi.gunicorn_conf", "prometheus_client"),  # only once its directory is set
        ("webapi.gunicorn_conf", "webapi.app"),  # the master never imports the app
    ],
)
def test_a_deferred_import_keeps_out_what_its_reason_says(
    module: str, kept_out: str, tmp_path: Path
) -> None:
    """Each ``# noqa: PLC0415`` kept for a light start-up holds in a fresh interpreter."""
    code = f"import sys, {module}; print({kept_out!r} in sys.modules)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "False", f"importing {module} loads {kept_out}"
