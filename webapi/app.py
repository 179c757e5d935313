"""The application factory."""

from __future__ import annotations

from pathlib import Path

import flask_smorest
from flask import Flask
from flask_jwt_extended import JWTManager
from werkzeug.middleware.proxy_fix import ProxyFix

from webapi.auth.guards import API_KEY_HEADER
from webapi.auth.principal_cache import AUTH_CHANNEL
from webapi.auth.principals import init_principals
from webapi.auth.tokens import configure_jwt
from webapi.docs import docs_blueprint
from webapi.errors import ErrorSchema, register_error_handlers
from webapi.headers import init_security_headers
from webapi.jobs.runtime import EXTENSION as JOBS_EXTENSION
from webapi.jobs.runtime import init_jobs
from webapi.routes import blueprints
from webapi.services import EXTENSION, Services, build_services
from webapi.settings import WebSettings
from webapi.webhooks.runtime import EXTENSION as WEBHOOKS_EXTENSION
from webapi.webhooks.runtime import init_webhooks


class Api(flask_smorest.Api):  # type: ignore[misc]  # flask-smorest has no types
    ERROR_SCHEMA = ErrorSchema


def create_app(settings: WebSettings, *, services: Services | None = None) -> Flask:
    """A configured app; ``services`` replaces the ones built from ``settings`` (tests)."""
    # Explicit paths: an editable install hides the package location from Flask.
    here = Path(__file__).parent
    app = Flask("webapi", root_path=str(here), instance_path=str(here / "instance"))
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="shoal",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        # Not X-Forwarded-Host: the Host a client sent is what it asked for, and links
        # built from a header anyone can set would point wherever they liked.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.extensions[EXTENSION] = services or build_services(settings)
    runtime = init_jobs(app, app.extensions[EXTENSION], settings.jobs)
    init_webhooks(app, app.extensions[EXTENSION])
    principals = init_principals(app, settings.auth_cache_seconds)
    runtime.hub.listen(AUTH_CHANNEL, principals.on_notify)
    principals.follow(runtime.hub.connected.is_set, app.extensions[EXTENSION].engine)
    api = Api()
    jwt = JWTManager()
    api.init_app(app)
    configure_jwt(app, jwt, settings)
    _security_schemes(api)
    for blueprint in blueprints(settings):
        if isinstance(blueprint, flask_smorest.Blueprint):
            api.register_blueprint(blueprint)
        else:
            app.register_blueprint(blueprint)
    app.register_blueprint(docs_blueprint())
    init_security_headers(app, https_only=settings.ui.secure_cookies)
    # Last, so these replace the handlers flask-smorest and flask-jwt-extended installed.
    register_error_handlers(app)
    return app


def drain_app(app: Flask) -> None:
    """The server is stopping: end long polls and event streams now, not at their timeout."""
    app.extensions[JOBS_EXTENSION].hub.drain()


def close_app(app: Flask) -> None:
    """Stop the app's background threads and close its database pool."""
    app.extensions[WEBHOOKS_EXTENSION].stop()
    app.extensions[JOBS_EXTENSION].stop()
    app.extensions[EXTENSION].close()


def _security_schemes(api: Api) -> None:
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "apiKeyAuth", {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    )
