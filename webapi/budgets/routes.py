"""``/api/budgets``: each user's monthly budget and the default for all (ADMIN), and the
caller's own standing (``/me``). Every change is audited (``user_logs``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask.views import MethodView
from sqlalchemy import Connection

from shared.enums import AuditAction
from shared.errors import NotFound
from webapi import audit
from webapi.accounts import get_user
from webapi.auth import USER_ROLES, current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.budgets import schemas
from webapi.jobs.runtime import jobs_runtime
from webapi.services import services
from webapi.store import budgets as store
from webapi.store.budgets import DEFAULT_WARN_AT, BudgetRecord

blp = Blueprint(
    "budgets",
    __name__,
    url_prefix="/api/budgets",
    description="Budgets: monthly limits on what submissions commit",
)


@blp.route("", strict_slashes=False)
@require_roles("ADMIN")
@blp.response(200, schemas.BudgetsOut)
def listing() -> dict[str, Any]:
    """Every budget set (ADMIN), the default first."""
    with services().transaction() as conn:
        return {"budgets": [budget_wire(b) for b in store.listing(conn)]}


@blp.route("/me")
@require_roles(*USER_ROLES)
@blp.response(200, schemas.StandingOut)
def me() -> dict[str, Any]:
    """The caller's month under their budget (their own, else the default): the limits,
    what is spent and what is committed with their unfinished jobs."""
    return _standing(current_principal().user_id)


@blp.route("/users/<int:user_id>/standing")
@require_roles("ADMIN")
@blp.errors(404)
@blp.response(200, schemas.StandingOut)
def standing(user_id: int) -> dict[str, Any]:
    """A user's month under their budget, as ``/me`` shows it to them (ADMIN)."""
    with services().transaction() as conn:
        get_user(conn, user_id)
    return _standing(user_id)


@blp.route("/default")
class DefaultBudget(MethodView):
    @require_roles("ADMIN")
    @blp.response(200, schemas.BudgetEnvelope)
    def get(self) -> dict[str, Any]:
        """The budget of every user without their own (null: none)."""
        return _get(None)

    @require_roles("ADMIN")
    @blp.arguments(schemas.BudgetBody)
    @blp.response(200, schemas.BudgetEnvelope)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Set the default budget; the next submission of every user without their own
        is checked against it."""
        return _put(None, body)

    @require_roles("ADMIN")
    @blp.errors(404)
    @blp.response(200, schemas.BudgetEnvelope)
    def delete(self) -> dict[str, Any]:
        """Remove the default budget (the cleared one is answered)."""
        return _clear(None)


@blp.route("/users/<int:user_id>")
class UserBudget(MethodView):
    @require_roles("ADMIN")
    @blp.errors(404)
    @blp.response(200, schemas.BudgetEnvelope)
    def get(self, user_id: int) -> dict[str, Any]:
        """The user's own budget (null: none; the default then applies)."""
        return _get(user_id)

    @require_roles("ADMIN")
    @blp.errors(404)
    @blp.arguments(schemas.BudgetBody)
    @blp.response(200, schemas.BudgetEnvelope)
    def put(self, body: dict[str, Any], user_id: int) -> dict[str, Any]:
        """Set the user's budget; their next submission is checked against it (raising
        it lets them submit again at once)."""
        return _put(user_id, body)

    @require_roles("ADMIN")
    @blp.errors(404)
    @blp.response(200, schemas.BudgetEnvelope)
    def delete(self, user_id: int) -> dict[str, Any]:
        """Remove the user's budget: the default applies again (the cleared one is
        answered)."""
        return _clear(user_id)


def _standing(user_id: int) -> dict[str, Any]:
    with services().transaction() as conn:
        budget = store.budget_of(conn, user_id)
        found = store.standing(conn, jobs_runtime().catalogue, user_id, budget)
    source = None if budget is None else "default" if budget.user_id is None else "user"
    return {**store.wire(found), "source": source}


def _get(user_id: int | None) -> dict[str, Any]:
    with services().transaction() as conn:
        _check_user(conn, user_id)
        found = store.get(conn, user_id)
    return {"budget": None if found is None else budget_wire(found)}


def _put(user_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
    actor_id = current_principal().user_id
    warn_at = body["warnAt"]
    with services().transaction() as conn:
        _check_user(conn, user_id, lock=True)
        before = store.get(conn, user_id)
        if warn_at is None:
            warn_at = DEFAULT_WARN_AT if before is None else before.warn_at
        changed = store.put(
            conn,
            user_id,
            cost_limit=body["cost"],
            vcpu_hours_limit=body["vcpuHours"],
            warn_at=Decimal(warn_at),
            actor_id=actor_id,
        )
        audit.record(
            conn,
            AuditAction.BUDGET_CHANGED,
            user_id=user_id,
            actor_id=actor_id,
            scope=_scope(user_id),
            before=None if before is None else _audited(before),
            after=_audited(changed),
        )
    return {"budget": budget_wire(changed)}


def _clear(user_id: int | None) -> dict[str, Any]:
    actor_id = current_principal().user_id
    with services().transaction() as conn:
        _check_user(conn, user_id, lock=True)
        cleared = store.clear(conn, user_id)
        if cleared is None:
            raise NotFound(f"{_scope(user_id).capitalize()} has no budget.")
        audit.record(
            conn,
            AuditAction.BUDGET_CLEARED,
            user_id=user_id,
            actor_id=actor_id,
            scope=_scope(user_id),
            before=_audited(cleared),
        )
    return {"budget": budget_wire(cleared)}


def _check_user(conn: Connection, user_id: int | None, *, lock: bool = False) -> None:
    """404 naming the user when there is no such user (None: the default, always there)."""
    if user_id is not None:
        try:
            get_user(conn, user_id, lock=lock)
        except NotFound as missing:
            no_user = NotFound(f"User {user_id} not found.", errors={"userId": ["No such user."]})
            raise no_user from missing


def _scope(user_id: int | None) -> str:
    return "the default" if user_id is None else f"user {user_id}"


def _audited(budget: BudgetRecord) -> dict[str, Any]:
    return {**store.limits_wire(budget), "warnAt": float(budget.warn_at)}


def budget_wire(budget: BudgetRecord) -> dict[str, Any]:
    return {
        "userId": budget.user_id,
        "limit": store.limits_wire(budget),
        "warnAt": float(budget.warn_at),
        "updatedAt": budget.updated_at,
    }
