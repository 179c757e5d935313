"""Submitting a job from a form generated from its type's input schema."""

from __future__ import annotations

import re

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from shared.errors import InvalidInput
from shared.jobtypes import JobTypeSpec
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.models import MAX_PRIORITY
from webapi.ui.forms import (
    FormField,
    field_errors,
    form_fields,
    load_json,
    parse_form,
    payload_values,
)
from webapi.ui.pages import blp, page, render_page
from webapi.ui.polygon_svg import polygon_svg
from webapi.ui.run_again import edited_job
from webapi.ui.session import current_session

_PRIORITY = re.compile(r"[+-]?\d{1,3}")
PRIORITY_ERROR = f"Must be a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY}."


def _priority_problem(text: str) -> str:
    """Why the form's priority is refused ("" when it is fine)."""
    valid = _PRIORITY.fullmatch(text) is not None and abs(int(text)) <= MAX_PRIORITY
    return "" if valid else PRIORITY_ERROR


def _spec(name: str | None) -> JobTypeSpec | None:
    """The type new jobs may be submitted to, or None (none named, unknown, retired)."""
    try:
        return jobs_runtime().catalogue.get(name) if name else None
    except InvalidInput:
        return None


@blp.route("/jobs/new", methods=["GET"])
@page(*USERS)
def new_job() -> ResponseReturnValue:
    """The form of a type (``?type=``), or prefilled with a job's input (``?from=ID``)."""
    source = edited_job(request.args.get("from"))
    spec = _spec(source.type if source else request.args.get("type"))
    fields = form_fields(spec.input_schema, example=spec.example_input) if spec else []
    if spec and source:
        values = payload_values(fields, source.input_payload)
        return _form_page(spec, form_fields(spec.input_schema, values), priority=source.priority)
    return _form_page(spec, fields)


@blp.route("/jobs/new", methods=["POST"])
@page(*USERS)
def submit_job() -> ResponseReturnValue:
    spec = _spec(request.form.get("type"))
    if spec is None:
        return _form_page(None, [], general=["Choose a job type."], status=400)
    parsed, values = parse_form(form_fields(spec.input_schema), request.form, request.files)
    priority = request.form.get("priority", "").strip() or "0"
    if parsed.errors or _priority_problem(priority):
        fields = form_fields(spec.input_schema, values, parsed.errors)
        return _form_page(spec, fields, priority=priority, status=400)
    try:
        created = jobs_runtime().queue.create(
            user_id=current_session().principal.user_id,
            job_type=spec.name,
            payload=parsed.payload,
            priority=int(priority),
        )
    except InvalidInput as error:
        by_field, general = field_errors(error.errors or {}, values)
        fields = form_fields(spec.input_schema, values, by_field)
        unplaced = [r for name, rs in by_field.items() if name not in values for r in rs]
        general = [error.message, *general, *unplaced]
        return _form_page(spec, fields, general=general, priority=priority, status=400)
    notice = "cached" if created.cached else "submitted"
    return redirect(url_for("ui.job_detail", job_id=created.job.id, notice=notice), code=303)


def _form_page(
    spec: JobTypeSpec | None,
    fields: list[FormField],
    *,
    general: list[str] | None = None,
    priority: int | str = 0,
    status: int = 200,
) -> ResponseReturnValue:
    return render_page(
        "new_job.html",
        status,
        spec=spec,
        specs=list(jobs_runtime().catalogue),
        fields=fields,
        general=general or [],
        priority=str(priority),
        priority_error=_priority_problem(str(priority)),
    )


@blp.route("/jobs/new/polygon-preview", methods=["POST"])
@page(*USERS)
def polygon_preview() -> ResponseReturnValue:
    """The SVG outline of the pasted polygon (an htmx fragment), or why it is not one."""
    raw = next((v for k, v in request.form.items() if k.startswith("input.")), "")
    try:
        drawing = polygon_svg(load_json(raw)) if raw.strip() else None
    except ValueError:
        drawing = None
    if drawing is None:
        message = "Paste a GeoJSON Polygon or MultiPolygon to see it here."
        return Markup('<p class="muted">{}</p>').format(message)
    if drawing.note:
        return drawing.svg + Markup('<p class="muted">{}</p>').format(drawing.note)
    return drawing.svg
