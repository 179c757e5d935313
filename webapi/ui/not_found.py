"""Addresses no route serves: a page for a browser, the API's JSON under ``/api``; and
the favicon browsers ask for at the root."""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from webapi.errors import http_error
from webapi.ui.pages import blp, render_page


@blp.app_errorhandler(NotFound)
def unknown_address(error: NotFound) -> Response:
    """A 404 no blueprint answered: the styled page, unless the path is the API's."""
    api = request.path == "/api" or request.path.startswith("/api/")
    if request.blueprint is not None or api:
        return http_error(error)
    message = f"There is no page at {request.path}."
    return render_page("error.html", 404, message=message, code=404)


@blp.route("/favicon.ico")
def favicon() -> ResponseReturnValue:
    return redirect(url_for("ui.static", filename="favicon.svg"), code=301)
