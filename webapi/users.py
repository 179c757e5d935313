"""``/api/users`` (ADMIN): accounts, their roles, and pre-approved emails."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from webapi import accounts
from webapi.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from webapi.auth import current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.schemas import RolesField, Strict, UtcDateTime
from webapi.services import services

MAX_WEIGHT = 1000
MAX_LIMIT = 10_000_000
MAX_PENDING = "PENDING jobs at most, all types together; past it 429."
MAX_RUNNING = "Running jobs at most in each job type (fair share on)."

blp = Blueprint("users", __name__, url_prefix="/api/users", description="Accounts (ADMIN)")


class UserOut(ma.Schema):
    """A user as admins see it; there is no way to see a password hash."""

    id = ma.fields.Integer()
    email = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    created_at = UtcDateTime()
    weight = ma.fields.Integer(metadata={"description": "Fair-share weight (default 1)."})
    maxPending = ma.fields.Integer(  # noqa: N815 - wire name
        attribute="max_pending", allow_none=True, metadata={"description": "null: no limit"}
    )
    maxRunning = ma.fields.Integer(  # noqa: N815 - wire name
        attribute="max_running", allow_none=True, metadata={"description": "null: no limit"}
    )
    system = ma.fields.Boolean(
        metadata={"description": "An account the platform runs as; it cannot be deleted."}
    )


def _weight(**kwargs: Any) -> ma.fields.Integer:
    return ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=MAX_WEIGHT),
        metadata={"description": "Share of each job type's workers, in proportion to others'."},
        **kwargs,
    )


def _limit(description: str, required: bool = True) -> ma.fields.Integer:
    """A per-user limit: null for none."""
    return ma.fields.Integer(
        required=required,
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=MAX_LIMIT),
        metadata={"description": description},
    )


class QuotaBody(Strict):
    """A user's fair-share settings; every field is required (null: no limit)."""

    weight = _weight(required=True)
    maxPending = _limit(MAX_PENDING)  # noqa: N815 - wire name
    maxRunning = _limit(MAX_RUNNING)  # noqa: N815 - wire name


class UserEnvelope(ma.Schema):
    user = ma.fields.Nested(UserOut)


class UsersOut(ma.Schema):
    users = ma.fields.List(ma.fields.Nested(UserOut))


class NewUser(Strict):
    email = ma.fields.Email(required=True)
    password = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
    )
    roles = RolesField(required=True)
    weight = _weight(load_default=1)
    maxPending = _limit(MAX_PENDING, required=False)  # noqa: N815 - wire name
    maxRunning = _limit(MAX_RUNNING, required=False)  # noqa: N815 - wire name
    system = ma.fields.Boolean(
        load_default=None,
        metadata={
            "description": "An account the platform runs as, which cannot be deleted "
            "(default: true exactly when every role is WORKER or MANAGER)."
        },
    )


class RolesBody(Strict):
    roles = RolesField(required=True)


class PreApprovalBody(Strict):
    email = ma.fields.Email(required=True)
    roles = RolesField(required=True)


class PreApprovalOut(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    used = ma.fields.Boolean()
    created_at = UtcDateTime()


class PreApprovalEnvelope(ma.Schema):
    preApprovedUser = ma.fields.Nested(PreApprovalOut)  # noqa: N815 - wire name


class PreApprovalsOut(ma.Schema):
    preApprovedUsers = ma.fields.List(ma.fields.Nested(PreApprovalOut))  # noqa: N815


def new_account(body: dict[str, Any]) -> accounts.NewAccount:
    """The optional settings of a ``NewUser`` body."""
    return accounts.NewAccount(
        weight=body["weight"],
        max_pending=body.get("maxPending"),
        max_running=body.get("maxRunning"),
        system=body["system"],
    )


@blp.route("", strict_slashes=False)
class Users(MethodView):
    @require_roles("ADMIN")
    @blp.response(200, UsersOut)
    def get(self) -> dict[str, Any]:
        """Every user."""
        with services().transaction() as conn:
            return {"users": accounts.list_users(conn)}

    @require_roles("ADMIN")
    @blp.arguments(NewUser)
    @blp.response(200, UserEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a user with the given roles, and optionally weight, limits and ``system``."""
        svc = services()
        with svc.transaction() as conn:
            user = accounts.create_user(
                conn,
                svc.passwords,
                email=body["email"],
                password=body["password"],
                roles=body["roles"],
                actor_id=current_principal().user_id,
                settings=new_account(body),
            )
            return {"user": user}


@blp.route("/<int:user_id>")
class UserById(MethodView):
    @require_roles("ADMIN")
    @blp.errors(404)
    @blp.response(200, UserEnvelope)
    def get(self, user_id: int) -> dict[str, Any]:
        """One user."""
        with services().transaction() as conn:
            return {"user": accounts.get_user(conn, user_id)}

    @require_roles("ADMIN")
    @blp.errors(400, 404, 409)
    @blp.response(204)
    def delete(self, user_id: int) -> None:
        """Delete a user and everything they own (not yourself, nor a system account: 409)."""
        with services().transaction() as conn:
            accounts.delete_user(conn, user_id, actor_id=current_principal().user_id)


@blp.route("/<int:user_id>/roles", methods=["PUT"])
@require_roles("ADMIN")
@blp.errors(404)
@blp.arguments(RolesBody)
@blp.response(200, UserEnvelope)
def set_roles(body: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Replace a user's roles (you cannot remove your own ADMIN)."""
    with services().transaction() as conn:
        user = accounts.set_roles(
            conn, user_id, body["roles"], actor_id=current_principal().user_id
        )
        return {"user": user}


@blp.route("/<int:user_id>/quota", methods=["PUT"])
@require_roles("ADMIN")
@blp.errors(404)
@blp.arguments(QuotaBody)
@blp.response(200, UserEnvelope)
def set_quota(body: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Set a user's fair-share weight, max PENDING jobs and max running jobs."""
    with services().transaction() as conn:
        user = accounts.set_quota(
            conn,
            user_id,
            weight=body["weight"],
            max_pending=body["maxPending"],
            max_running=body["maxRunning"],
            actor_id=current_principal().user_id,
        )
        return {"user": user}


@blp.route("/pre-approved")
class PreApprovals(MethodView):
    @require_roles("ADMIN")
    @blp.response(200, PreApprovalsOut)
    def get(self) -> dict[str, Any]:
        """Every pre-approved email, used or not."""
        with services().transaction() as conn:
            return {"preApprovedUsers": accounts.list_pre_approved(conn)}

    @require_roles("ADMIN")
    @blp.arguments(PreApprovalBody)
    @blp.response(200, PreApprovalEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Pre-approve an email: it gets these roles when it registers."""
        with services().transaction() as conn:
            approval = accounts.pre_approve(
                conn,
                email=body["email"],
                roles=body["roles"],
                actor_id=current_principal().user_id,
            )
            return {"preApprovedUser": approval}


@blp.route("/pre-approved/<int:approval_id>", methods=["DELETE"])
@require_roles("ADMIN")
@blp.errors(404)
@blp.response(204)
def delete_pre_approval(approval_id: int) -> None:
    """Withdraw a pre-approval."""
    with services().transaction() as conn:
        accounts.delete_pre_approved(conn, approval_id, actor_id=current_principal().user_id)
