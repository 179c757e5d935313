"""Admins' fleet page: per-type queue and workers, scale, redeploy, and the last hour
minute by minute (pending per type, running, finished, the fleet's size)."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from webapi.admin.control import fleet_view, reported_fleet
from webapi.admin.routes import compute_settings, control
from webapi.admin.schemas import MAX_DESIRED, ScaleBody
from webapi.errors import validation_errors
from webapi.jobs.runtime import jobs_runtime
from webapi.services import services
from webapi.store.queue_history import activity
from webapi.ui.chart import activity_chart
from webapi.ui.pages import blp, page, render_page

NOTICES = {
    "scaled": "The desired worker count was changed.",
    "redeployed": "A redeploy has started; the rollout below shows its progress.",
}


@blp.route("/admin/fleet")
@page("ADMIN")
def fleet() -> ResponseReturnValue:
    return _fleet_page()


def _fleet_page(
    *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> ResponseReturnValue:
    engine = services().engine
    report = reported_fleet(engine)
    now = datetime.now(UTC)
    workers = [{**w, "age": _age(w.get("startedAt"), now)} for w in report["workers"]]
    demand = jobs_runtime().queue.demand()
    types = [
        {
            "name": name,
            "pending": counts.pending,
            "running": counts.in_progress,
            "workers": [w for w in workers if name in w.get("jobTypes", [])],
        }
        for name, counts in sorted(demand.items())
    ]
    reported_at = report["reportedAt"]
    view = fleet_view(report, now)
    return render_page(
        "fleet.html",
        status,
        service=control().status(),
        types=types,
        workers=workers,
        holder=report.get("holder"),
        last_tick=_age(reported_at.isoformat(), now) if reported_at else None,
        view=view,
        view_age=_age(view["readAt"], now) if view["readAt"] else None,
        chart=activity_chart(activity(engine), sorted(demand)),
        max_desired=MAX_DESIRED,
        capped=compute_settings().backend != "ecs",
        errors=errors or {},
        notice=NOTICES.get(request.args.get("notice", ""), ""),
    )


@blp.route("/admin/fleet/scale", methods=["POST"])
@page("ADMIN")
def scale() -> ResponseReturnValue:
    raw = request.form.get("desiredCount", "").strip()
    try:
        body = ScaleBody().load({"desiredCount": int(raw) if raw.lstrip("-").isdigit() else raw})
    except ma.ValidationError as error:
        return _fleet_page(errors=validation_errors(error.messages), status=400)
    control().scale(body["desiredCount"])
    return redirect(url_for("ui.fleet", notice="scaled"), code=303)


@blp.route("/admin/fleet/redeploy", methods=["POST"])
@page("ADMIN")
def redeploy() -> ResponseReturnValue:
    control().redeploy()
    return redirect(url_for("ui.fleet", notice="redeployed"), code=303)


def _age(iso: str | None, now: datetime) -> str:
    """``42 s`` / ``3 min`` / ``2 h`` since an ISO timestamp; ``?`` when unreadable."""
    if not iso:
        return "?"
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
