"""Security headers on every response the app sends: the API, the dashboard, the docs, files.

One ``after_request`` for the whole app, so no route can be left out (signed file links
and Swagger UI once were); what the server writes itself (``webapi.serving``: a 408 for
headers that did not arrive in time, gunicorn's answers to requests it cannot parse)
carries ``data_headers``.
The policy depends on who answers: the dashboard's pages and Swagger UI load scripts
and styles from this origin only (Swagger UI sets styles through the DOM, which the
policy allows, and no ``style`` attributes); everything else is data, so nothing in it
may load, run or be framed, and a file opened in a browser runs sandboxed.
"""

from __future__ import annotations

from flask import Flask, Response, request

_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_PAGES = ("ui", "docs")  # the blueprints that serve pages
_DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# A year; browsers refuse to downgrade to plain HTTP for that long after one answer.
HSTS = "max-age=31536000"


def data_headers(*, https_only: bool) -> dict[str, str]:
    """What an answer written outside Flask carries (``webapi.serving``'s)."""
    hsts = {"Strict-Transport-Security": HSTS} if https_only else {}
    return {"Content-Security-Policy": _DATA_POLICY, **_COMMON, **hsts}


def init_security_headers(app: Flask, *, https_only: bool) -> None:
    """Send the headers on every response; ``https_only`` adds Strict-Transport-Security."""

    def add_headers(response: Response) -> Response:
        headers = response.headers
        policy = _PAGE_POLICY if request.blueprint in _PAGES else _DATA_POLICY
        headers.setdefault("Content-Security-Policy", policy)
        for name, value in _COMMON.items():
            headers.setdefault(name, value)
        if https_only:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.blueprint == "ui" and response.mimetype == "text/html":
            headers["Cache-Control"] = "no-store"  # pages show what only the viewer may see
        return response

    app.after_request(add_headers)
