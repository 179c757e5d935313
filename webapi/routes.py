"""The blueprints of the API, one per area; ``create_app`` registers them in this order.

Each routes module owns its blueprint and adds nothing to another's. To add an area:
import its blueprint here and append it to the list.
"""

from __future__ import annotations

import flask

from webapi.admin.routes import blp as compute
from webapi.auth.routes import blp as auth
from webapi.health import blp as health
from webapi.jobs.batch_routes import blp as batches
from webapi.jobs.download_routes import blp as files
from webapi.jobs.event_routes import blp as events
from webapi.jobs.log_routes import blp as logs
from webapi.jobs.resubmit_routes import blp as resubmit
from webapi.jobs.user_routes import blp as jobs
from webapi.jobs.worker_routes import blp as workers
from webapi.jobtypes.routes import blp as job_types
from webapi.metrics import metrics_blp as metrics
from webapi.notes import blp as notes
from webapi.polygons import blp as polygons
from webapi.settings import WebSettings
from webapi.ui.views import blp as ui
from webapi.usage.routes import blp as usage
from webapi.users import blp as users
from webapi.webhooks.routes import blp as webhooks
from webapi.workflows.routes import blp as workflows


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
        resubmit,
        batches,
        workflows,
        events,
        logs,
        job_types,
        files,
        metrics,
        compute,
        webhooks,
        usage,
        ui,
    ]
