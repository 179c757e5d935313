"""``/api/docs``: Swagger UI over ``/api/openapi.json``, served from a wheel (works offline)."""

from __future__ import annotations

from flask import Blueprint, Response
from swagger_ui_bundle import swagger_ui_path

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>shoal API</title>
  <link rel="stylesheet" href="/api/docs/static/swagger-ui.css">
  <link rel="icon" href="/api/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/static/swagger-ui-bundle.js"></script>
  <script src="/api/docs/static/swagger-ui-standalone-preset.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>
"""

# A file of its own rather than an inline script, so a strict CSP can allow it.
_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
};
"""


def docs_blueprint() -> Blueprint:
    blueprint = Blueprint(
        "docs",
        __name__,
        url_prefix="/api/docs",
        static_folder=str(swagger_ui_path),
        static_url_path="/static",
    )
    blueprint.add_url_rule("", "page", _page, strict_slashes=False)
    blueprint.add_url_rule("/init.js", "init", _init)
    return blueprint


def _page() -> Response:
    return Response(_PAGE, mimetype="text/html")


def _init() -> Response:
    return Response(_INIT, mimetype="text/javascript")
