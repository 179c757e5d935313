"""The blueprints of the API, one per area; ``create_app`` registers them in this order.

To add an area: import its blueprint inside ``blueprints`` and append it to the list.
"""

from __future__ import annotations

import flask

from webapi.settings import WebSettings


def blueprints(settings: WebSettings) -> list[flask.Blueprint]:
    """Every blueprint to register; ``settings`` lets an area depend on configuration."""
    from webapi.admin.routes import blp as compute
    from webapi.auth.routes import blp as auth
    from webapi.health import blp as health
    from webapi.notes import blp as notes
    from webapi.polygons import blp as polygons
    from webapi.users import blp as users

    return [
        health,
        auth,
        users,
        polygons,
        notes,
        compute,
    ]
