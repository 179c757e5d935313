"""The handlers of the two built-in job types, exactly as the contract defines them."""

from __future__ import annotations

import json
from typing import Any

from worker.context import JobCancelled, JobContext
from worker.geodesy import polygon_stats
from worker.handlers.registry import HandlerRegistry

# TEST sleeps in steps this long, so it notices a cancellation and reports progress.
_STEP_SECONDS = 0.25


class RequestedFailure(Exception):
    """The job failed on purpose (fail: true)."""


def register_builtins(registry: HandlerRegistry) -> None:
    registry.register("TEST", run_test)
    registry.register("POLYGON_STATS", run_polygon_stats)


def run_test(ctx: JobContext) -> dict[str, Any]:
    """Wait ``durationSeconds`` (reporting progress, and logging each whole second), then
    write ``result.json``, or fail."""
    duration = float(ctx.input.get("durationSeconds", 0))
    waited = 0.0
    while waited < duration:
        step = min(_STEP_SECONDS, duration - waited)
        if not ctx.sleep(step):
            raise JobCancelled
        waited += step
        ctx.progress(waited / duration, f"waited {waited:.2f} of {duration:g} s")
        if int(waited) > int(waited - step):  # a log line each whole second
            ctx.logger.info("waited %d of %g s", int(waited), duration)
    if ctx.input.get("fail"):
        raise RequestedFailure(f"TEST job {ctx.job_id} failed on purpose (fail: true)")
    (ctx.output_dir / "result.json").write_text(json.dumps(ctx.input, indent=2))
    return {}


def run_polygon_stats(ctx: JobContext) -> dict[str, Any]:
    """Geodesic stats of the polygon; writes ``stats.json`` and ``polygon.geojson``."""
    polygon = ctx.input["polygon"]
    payload = polygon_stats(polygon).to_payload()
    ctx.raise_if_cancelled()
    geometry = polygon.get("geometry") if polygon.get("type") == "Feature" else polygon
    feature = {"type": "Feature", "geometry": geometry, "properties": payload}
    (ctx.output_dir / "stats.json").write_text(json.dumps(payload, indent=2))
    (ctx.output_dir / "polygon.geojson").write_text(json.dumps(feature))
    return payload
