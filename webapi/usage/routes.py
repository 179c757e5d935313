"""``/api/usage``: what attempts used and cost, per user, type, batch or day; the cost
estimate of a submission; and the prices that turn usage into money."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView

from shared.enums import AuditAction, Capacity
from shared.errors import Forbidden, InvalidInput
from webapi import audit
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.jobs.runtime import jobs_runtime
from webapi.services import services
from webapi.store import usage as store
from webapi.usage import schemas as s
from webapi.usage.wire import usage_wire

blp = Blueprint("usage", __name__, url_prefix="/api/usage", description="Usage and cost")
READERS = ("ANALYST",)


@blp.route("", strict_slashes=False)
@require_roles(*READERS)
@blp.arguments(s.ReportQuery, location="query")
@blp.errors(400, 403)
@blp.response(200, s.ReportOut)
def report(query: dict[str, Any]) -> dict[str, Any]:
    """What the attempts that ended in the period used and cost, grouped ``by`` user,
    type, batch (the one that created the job; 0: none) or day (UTC), costliest first
    (by day: by day).

    An attempt counts in the hour it ended (before today: at the start of its day); the
    period takes the hours from the one ``from`` falls in up to ``to``. Admins see
    everyone's (``user``: one user's); anyone else only their own, and asking for
    another user's is 403.
    """
    principal = current_principal()
    now = datetime.now(UTC)
    since = query.get("since") or now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    until = query.get("until") or now
    if since > until:
        raise InvalidInput(f"from ({since.isoformat()}) is after to ({until.isoformat()})")
    user_id = query.get("user")
    if not principal.is_admin:
        if user_id is not None and user_id != principal.user_id:
            raise Forbidden("Only admins may see another user's usage")
        user_id = principal.user_id
    with services().engine.connect() as conn:
        found = store.report(conn, query["by"], since, until, user_id)
    rows = [{"key": r.key, "label": r.label, **usage_wire(r.usage)} for r in found.rows]
    return {
        "by": query["by"],
        "since": since,
        "until": until,
        "currency": store.CURRENCY,
        "rows": rows,
        "total": usage_wire(found.total),
    }


@blp.route("/estimate")
@require_roles(*READERS)
@blp.arguments(s.EstimateQuery, location="query")
@blp.errors(400)
@blp.response(200, s.EstimateOut)
def estimate(query: dict[str, Any]) -> dict[str, Any]:
    """What ``inputs`` jobs of ``jobType`` should cost before they are submitted: the
    median run time of its latest 100 succeeded attempts (basis ``recent``) or, with
    none yet, its run-time limit (``timeout``, an upper bound), × inputs × its task size
    × the on-demand price."""
    spec = jobs_runtime().catalogue.known(query["jobType"])
    with services().engine.connect() as conn:
        return s.estimate_wire(store.estimate(conn, spec, query["inputs"]))


@blp.route("/prices")
@require_roles(*READERS)
@blp.response(200, s.PricesOut)
def prices() -> dict[str, Any]:
    """Every region's prices per vCPU-hour and GB-hour, per capacity (on_demand, spot,
    local), and the region whose prices apply (``SHOAL_PRICE_REGION``)."""
    with services().engine.connect() as conn:
        every = store.all_prices(conn)
    return {
        "region": services().settings.price_region,
        "currency": store.CURRENCY,
        "prices": [s.price_wire(price) for price in every],
    }


@blp.route("/prices/<string:region>/<string:capacity>")
class PriceOfRegion(MethodView):
    @require_roles("ADMIN")
    @blp.arguments(s.PriceBody)
    @blp.errors(400)
    @blp.response(200, s.PriceOut)
    def put(self, body: dict[str, Any], region: str, capacity: str) -> dict[str, Any]:
        """Set one region's price of a capacity (ADMIN), audited. Cost is priced when it
        is read, so the new price applies to past usage too."""
        if capacity not in s.CAPACITIES:
            raise InvalidInput(f"capacity must be one of {', '.join(s.CAPACITIES)}")
        if not store.REGION.fullmatch(region):
            raise InvalidInput(f"region must be an AWS region such as us-east-1, not {region!r}")
        price = store.Price(region, Capacity(capacity), body["vcpuHour"], body["gbHour"])
        actor = current_principal()
        with services().transaction() as conn:
            old = store.set_price(conn, price, actor.user_id)
            audit.record(
                conn,
                AuditAction.PRICE_CHANGED,
                actor_id=actor.user_id,
                region=region,
                capacity=capacity,
                vcpuHour=str(price.vcpu_hour),
                gbHour=str(price.gb_hour),
                before=None
                if old is None
                else {"vcpuHour": str(old.vcpu_hour), "gbHour": str(old.gb_hour)},
            )
            stored = next(
                p for p in store.all_prices(conn) if (p.region, p.capacity) == (region, capacity)
            )
        return s.price_wire(stored)
