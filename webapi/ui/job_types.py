"""The job types pages: every type, one type's schemas, run spec and revisions; admins
register, change (a YAML or JSON document, as ``shoal types apply`` takes) and retire.

A change goes through the same rules as ``PUT /api/job-types`` (``webapi.jobtypes.
changes``). The document's text is bounded before it is parsed; JSON is read as JSON,
YAML by libyaml (its constructor still costs about 0.4 ms per KiB).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.errors import InvalidInput, ShoalError
from shared.jobtypes.document import READ_ONLY
from shared.jobtypes.document_text import load_document_text
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.jobtypes import changes
from webapi.jobtypes.routes import type_doc, type_docs
from webapi.jobtypes.wire import revision_doc
from webapi.services import services
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.ui.usage_data import estimates

# Two 64 KiB schemas, an example input and the rest, written out in YAML, fit well within.
MAX_DOCUMENT_CHARS = 256 * 1024
# The parts of a type shown as JSON on its page, in this order.
SHOWN = (
    ("inputSchema", "Input schema"),
    ("exampleInput", "Example input"),
    ("resultSchema", "Result schema"),
    ("run", "How it runs"),
    ("scaling", "Scaling"),
)
# What a change redirects with (only these keys: a link cannot put its own words here).
NOTICES = {
    "created": "Registered as revision {revision}.",
    "changed": "Saved as revision {revision}.",
    "unchanged": "Nothing changed: still revision {revision}.",
    "retired": "Retired: it takes no new jobs; jobs already queued still run.",
}
LIMITS = (
    "leaseSeconds",
    "maxAttempts",
    "maxPlatformRetries",
    "timeoutSeconds",
    "assignLeaseSeconds",
    "cacheResults",
    "cacheScope",
    "logLimitBytes",
)


@blp.route("/job-types")
@page(*USERS)
def job_types() -> ResponseReturnValue:
    return render_page("job_types.html", docs=type_docs(jobs_runtime(), retired=True))


@blp.route("/job-types/<string:name>")
@page(*USERS)
def job_type(name: str) -> ResponseReturnValue:
    runtime = jobs_runtime()
    doc = type_doc(runtime, name)
    revisions = []
    if doc["source"] == "registered":
        with services().transaction() as conn:
            revisions = [revision_doc(r) for r in runtime.catalogue.store.revisions(conn, name)]
    shown = [(title, _pretty(doc.get(key))) for key, title in SHOWN if doc.get(key) is not None]
    return render_page(
        "job_type.html",
        doc=doc,
        shown=shown,
        limits=[(key, doc.get(key)) for key in LIMITS],
        revisions=revisions,
        estimate=None if doc.get("retired") else estimates(runtime.catalogue.get(name)),
        notice=NOTICES.get(request.args.get("notice", ""), "").format(revision=doc.get("revision")),
    )


@blp.route("/admin/job-types/new")
@page("ADMIN")
def new_job_type() -> ResponseReturnValue:
    return _form_page(None, "")


@blp.route("/admin/job-types/new", methods=["POST"])
@page("ADMIN")
def create_job_type() -> ResponseReturnValue:
    return _apply(None)


@blp.route("/admin/job-types/<string:name>/edit")
@page("ADMIN")
def edit_job_type(name: str) -> ResponseReturnValue:
    runtime = jobs_runtime()
    doc = type_doc(runtime, name)
    changes.refuse_fixed(runtime.catalogue, name)
    document = {k: v for k, v in doc.items() if k not in READ_ONLY}
    return _form_page(name, yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


@blp.route("/admin/job-types/<string:name>/edit", methods=["POST"])
@page("ADMIN")
def change_job_type(name: str) -> ResponseReturnValue:
    return _apply(name)


@blp.route("/admin/job-types/<string:name>/retire", methods=["POST"])
@page("ADMIN")
def retire_job_type(name: str) -> ResponseReturnValue:
    changes.retire(services(), jobs_runtime().catalogue, name, actor=current_session().principal)
    return redirect(url_for("ui.job_type", name=name, notice="retired"), code=303)


def _apply(name: str | None) -> ResponseReturnValue:
    """Register or change the type the form's document describes; the form again, with
    the reason, when it is refused."""
    text = request.form.get("document", "")
    try:
        body = _document(text)
        target = name or _named(body)
        runtime = jobs_runtime()
        applied = changes.apply(
            services(),
            runtime.catalogue,
            target,
            body,
            actor=current_session().principal,
            allowed_images=runtime.settings.allowed_images,
        )
    except ShoalError as error:
        if error.status >= 500:
            raise
        problems = [f"{k}: {' '.join(v)}" for k, v in error.errors.items()]
        return _form_page(name, text, problem=error.message, problems=problems, status=error.status)
    notice = applied.change.value
    return redirect(url_for("ui.job_type", name=target, notice=notice), code=303)


def _document(text: str) -> Any:
    if len(text) > MAX_DOCUMENT_CHARS:
        message = f"The document is over {MAX_DOCUMENT_CHARS} characters."
        raise InvalidInput(message, errors={"document": [message]})
    if not text.strip():
        raise InvalidInput("Paste the type's document (YAML or JSON).")
    try:
        return load_document_text(text)
    except ValueError as error:
        message = f"The document is {error}."
        raise InvalidInput(message, errors={"document": [message]}) from None


def _named(body: Any) -> str:
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput("The document needs a name.", errors={"name": ["Missing."]})
    return name


def _form_page(
    name: str | None,
    text: str,
    *,
    problem: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return render_page(
        "job_type_form.html",
        status,
        name=name,
        document=text,
        problem=problem,
        problems=problems or [],
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
