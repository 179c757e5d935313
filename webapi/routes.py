"""The blueprints of the API, one per area; ``create_app`` registers them in this order.

To add an area: import its blueprint here and append it to the list.
"""

from __future__ import annotations

import flask

from webapi.admin.routes import blp as compute
from webapi.auth.routes import blp as auth
from webapi.health import blp as health
from webapi.jobs import batch_routes as _batches  # noqa: F401 - adds to the jobs blueprint
from webapi.jobs import event_routes as _events  # noqa: F401 - adds to the jobs blueprint
from webapi.jobs import log_routes as _logs  # noqa: F401 - adds to both jobs blueprints
from webapi.jobs.download_routes import files_blp as files
from webapi.jobs.user_routes import blp as jobs
from webapi.jobs.worker_routes import blp as workers
from webapi.metrics import metrics_blp as metrics
from webapi.notes import blp as notes
from webapi.polygons import blp as polygons
from webapi.settings import WebSettings
from webapi.ui.views import blp as ui
from webapi.users import blp as users


def blueprints(settings: WebSettings) -> list[flask.Blueprint]:
    """Every blueprint to register; ``settings`` lets an area depend on configuration."""
    return [
        health,
        auth,
        users,
        polygons,
        notes,
        workers,
        jobs,
        files,
        metrics,
        compute,
        ui,
    ]
