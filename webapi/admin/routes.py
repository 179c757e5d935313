"""``/api/admin/*`` (ADMIN): the compute backend's status, scale, redeploy and workers;
``/api/manager/*`` (MANAGER): the manager's singleton lease, fleet report and settings.

The manager reaches the database only through these routes. The lease belongs to the
credential that took it; only its holder, through that credential, reports the fleet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask.views import MethodView

from shared.errors import Forbidden
from webapi.admin import schemas
from webapi.admin.control import (
    FLEET,
    ComputeControl,
    EcsControl,
    LocalControl,
    fleet_view,
    local_settings,
    reported_fleet,
)
from webapi.admin.settings import ComputeSettings
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs.runtime import jobs_runtime
from webapi.schemas import utc_iso
from webapi.services import services
from webapi.store import compute_state, workers
from webapi.store.queue_history import record_fleet_size

blp = Blueprint("compute", __name__, url_prefix="/api", description="Compute: admin and manager")
CONTROL = "shoal.compute"
LEASE = "manager"
MANAGER = "MANAGER"


def compute_settings() -> ComputeSettings:
    found: ComputeSettings = getattr(services().settings, "compute", ComputeSettings())
    return found


def control() -> ComputeControl:
    """The app's control for its backend, built on first use (so tests can mock AWS first)."""
    found: ComputeControl | None = current_app.extensions.get(CONTROL)
    if found is None:
        settings = compute_settings()
        if settings.backend == "ecs":
            found = EcsControl(settings)
        else:
            found = LocalControl(services().engine)
        current_app.extensions[CONTROL] = found
    return found


@blp.route("/admin/status")
class AdminStatus(MethodView):
    @require_roles("ADMIN")
    @blp.errors(503)
    @blp.response(200, schemas.StatusOut)
    def get(self) -> dict[str, Any]:
        """The worker service: counts, deployments, the last 5 events."""
        return control().status()


@blp.route("/admin/scale")
class AdminScale(MethodView):
    @require_roles("ADMIN")
    @blp.arguments(schemas.ScaleBody)
    @blp.errors(400, 503)
    @blp.response(200, schemas.ScaleOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Set the service's desired count (0–10); locally, the most worker processes."""
        return control().scale(body["desiredCount"])


@blp.route("/admin/redeploy")
class AdminRedeploy(MethodView):
    @require_roles("ADMIN")
    @blp.errors(503)
    @blp.response(200, schemas.RedeployOut)
    def post(self) -> dict[str, Any]:
        """A rolling new deployment; locally, workers restart after their current job."""
        return control().redeploy()


@blp.route("/admin/workers")
class AdminWorkers(MethodView):
    @require_roles("ADMIN")
    @blp.response(200, schemas.WorkersOut)
    def get(self) -> dict[str, Any]:
        """The workers the manager reported at its last tick, and how old that view is.

        ``stale``: the manager could not read its backend (ECS) at that tick, so the
        list is the last fleet it read whole (``readAt``, ``ageSeconds`` ago) plus
        what it launched since.
        """
        engine = services().engine
        report = reported_fleet(engine)
        reported = report["reportedAt"]
        local = compute_settings().backend != "ecs"
        return {
            "workers": report["workers"],
            "reportedAt": utc_iso(reported) if reported else None,
            "maxWorkers": local_settings(engine)["desiredCount"] if local else None,
            **fleet_view(report, datetime.now(UTC)),
        }


@blp.route("/manager/lease")
class ManagerLease(MethodView):
    @require_roles(MANAGER)
    @blp.arguments(schemas.LeaseBody)
    @blp.errors(400)
    @blp.response(200, schemas.LeaseOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Take or renew the manager's singleton lease; ``held`` says whether you have it.

        ``holder`` names the current holder only to the credential that holds it.
        """
        grant = compute_state.acquire_lease(
            services().engine,
            LEASE,
            body["holder"],
            body["ttlSeconds"],
            credential=current_principal().credential,
        )
        expires = utc_iso(grant.expires_at) if grant.expires_at else None
        return {"held": grant.held, "holder": grant.holder, "expiresAt": expires}

    @require_roles(MANAGER)
    @blp.arguments(schemas.ReleaseQuery, location="query")
    @blp.errors(400)
    @blp.response(200, schemas.ReleaseOut)
    def delete(self, query: dict[str, Any]) -> dict[str, Any]:
        """Give the lease up (clean shutdown), if ``holder`` has it through this credential."""
        released = compute_state.release_lease(
            services().engine, LEASE, query["holder"], credential=current_principal().credential
        )
        return {"released": released}


@blp.route("/manager/fleet")
class ManagerFleet(MethodView):
    @require_roles(MANAGER)
    @blp.arguments(schemas.FleetBody)
    @blp.errors(400)
    @blp.response(200, schemas.FleetOut)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record the manager's fleet, as read back from its backend this tick.

        Only from the lease's holder, through the credential that took it (else 403).
        ``stale``: the backend could not be read; ``readAt`` says when it last was.
        """
        read_at = body["readAt"]
        written = compute_state.write_state_as_holder(
            services().engine,
            FLEET,
            {**body, "readAt": utc_iso(read_at) if read_at else None},
            lease=LEASE,
            holder=body["holder"],
            credential=current_principal().credential,
        )
        if written is None:
            raise Forbidden("Only the manager holding the lease may report the fleet.")
        record_fleet_size(services().engine, len(body["workers"]))
        return {"workers": len(body["workers"])}


@blp.route("/manager/config")
class ManagerConfig(MethodView):
    @require_roles(MANAGER)
    @blp.response(200, schemas.ConfigOut)
    def get(self) -> dict[str, Any]:
        """What an admin set for the local workers: the cap and the redeploy generation."""
        local = local_settings(services().engine)
        return {"desiredCount": local["desiredCount"], "generation": local["generation"]}


@blp.route("/manager/workers/contacts")
class ManagerContacts(MethodView):
    @require_roles(MANAGER)
    @blp.arguments(schemas.ContactsBody)
    @blp.errors(400)
    @blp.response(200, schemas.ContactsOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """How long each named worker has been silent: not claiming, not heartbeating.

        A worker waiting in a claim is not silent until that claim's wait is over; a
        busy one is heard through its heartbeats. Read-only (a POST for its body).
        """
        found = workers.contacts(services().engine, body["workers"])
        return {
            "workers": [
                {"taskArn": c.identity, "silentSeconds": c.silent_seconds, "lost": c.lost}
                for c in found
            ]
        }


@blp.route("/manager/workers/lost")
class ManagerLostWorkers(MethodView):
    @require_roles(MANAGER)
    @blp.arguments(schemas.LostBody)
    @blp.errors(400)
    @blp.response(200, schemas.LostResult)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Declare workers lost, with why: their live attempts end at once, and their
        jobs go back to the queue (or end TIMED_OUT past their attempts).

        An attempt lost to the platform (``platform``) does not count against the
        job's ``maxAttempts``, up to its type's ``maxPlatformRetries``. A result that
        such a worker still sends is taken only while nobody took the job over.
        Only from the lease's holder, through the credential that took it (else 403).
        """
        engine = services().engine
        credential = current_principal().credential
        if not compute_state.holds_lease(engine, LEASE, body["holder"], credential=credential):
            raise Forbidden("Only the manager holding the lease may declare workers lost.")
        queue = jobs_runtime().queue
        answers = []
        for lost in body["workers"]:
            done = queue.lose_worker(lost["taskArn"], lost["reason"], platform=lost["platform"])
            answers.append(
                {
                    "taskArn": lost["taskArn"],
                    "requeued": list(done.requeued),
                    "timedOut": list(done.timed_out),
                    "spared": done.spared,
                }
            )
        return {"workers": answers}
