"""The handler registry, entry-point loading, and the two built-in handlers."""

from __future__ import annotations

import json
import logging
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shared.jobtypes import default_registry
from worker.context import JobCancelled, JobContext
from worker.handlers import HandlerRegistry, load_handlers
from worker.handlers.builtin import RequestedFailure, run_polygon_stats, run_test


def _context(
    tmp_path: Path, job_type: str, payload: dict[str, Any], reports: list[Any] | None = None
) -> JobContext:
    spec = default_registry().get(job_type)
    sink = reports if reports is not None else []
    return JobContext(
        job={"id": 1, "type": job_type, "input_payload": payload},
        input=spec.validate_input(payload),
        output_dir=tmp_path,
        logger=logging.LoggerAdapter(logging.getLogger("test"), {}),
        cancel_event=threading.Event(),
        _report=lambda fraction, message: sink.append((fraction, message)),
    )


def test_registry_decorator_and_duplicates() -> None:
    registry = HandlerRegistry()

    @registry.handler("DEMO")
    def demo(ctx: JobContext) -> dict[str, Any]:
        return {"n": 1}

    assert registry.get("DEMO") is demo
    assert "DEMO" in registry and registry.names() == ["DEMO"]
    with pytest.raises(ValueError, match="twice"):
        registry.register("DEMO", demo)
    with pytest.raises(LookupError, match="NOPE"):
        registry.get("NOPE")
    assert "DEMO" not in HandlerRegistry()  # no state shared between registries


def test_entry_points_add_handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "demo_shoal_handlers.py").write_text(
        textwrap.dedent(
            """
            def register(registry):
                @registry.handler("DEMO")
                def run(ctx):
                    return {"answer": 42}
            """
        )
    )
    info = tmp_path / "demo_shoal_handlers-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo-shoal-handlers\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[shoal.handlers]\ndemo = demo_shoal_handlers:register\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_handlers()
    assert registry.names() == ["DEMO", "POLYGON_STATS", "TEST"]
    assert registry.get("DEMO")(None) == {"answer": 42}  # type: ignore[arg-type]


def test_test_handler_waits_reports_and_writes(tmp_path: Path) -> None:
    reports: list[Any] = []
    ctx = _context(tmp_path, "TEST", {"id": 3, "durationSeconds": 0.6}, reports)
    started = time.monotonic()
    assert run_test(ctx) == {}
    assert 0.6 <= time.monotonic() - started < 1.5
    assert json.loads((tmp_path / "result.json").read_text()) == {"id": 3, "durationSeconds": 0.6}
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(reports) >= 3


def test_test_handler_fails_on_request(tmp_path: Path) -> None:
    with pytest.raises(RequestedFailure, match="on purpose"):
        run_test(_context(tmp_path, "TEST", {"id": 3, "fail": True}))
    assert not (tmp_path / "result.json").exists()


def test_test_handler_stops_when_cancelled(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "TEST", {"id": 3, "durationSeconds": 30})
    threading.Timer(0.3, ctx.cancel_event.set).start()
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        run_test(ctx)
    assert time.monotonic() - started < 1.0
    assert not (tmp_path / "result.json").exists()


def test_polygon_stats_handler_writes_both_files(tmp_path: Path) -> None:
    polygon = {
        "type": "Feature",
        "properties": {"name": "reef"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[145, -17], [146, -17], [146, -16], [145, -16], [145, -17]]],
        },
    }
    payload = run_polygon_stats(_context(tmp_path, "POLYGON_STATS", {"polygon": polygon}))
    assert default_registry().get("POLYGON_STATS").validate_result(payload) == payload
    assert json.loads((tmp_path / "stats.json").read_text()) == payload
    written = json.loads((tmp_path / "polygon.geojson").read_text())
    assert written["geometry"] == polygon["geometry"]
    assert written["properties"]["area_km2"] == pytest.approx(payload["area_km2"])
    assert payload["centroid"] == pytest.approx([145.5, -16.5])
