"""Account pages: users, their roles and quotas, pre-approvals (ADMIN); API keys (a
researcher's own, or everyone's for an admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.enums import UserRole
from shared.errors import InvalidInput, ShoalError
from webapi import accounts
from webapi.auth import api_keys
from webapi.auth.routes import ApiKeyBody
from webapi.errors import validation_errors, validation_message
from webapi.services import services
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.users import NewUser, PreApprovalBody, QuotaBody, new_account

ROLES = [role.value for role in UserRole]


def _actor() -> int:
    return current_session().principal.user_id


def _load(schema: ma.Schema, body: dict[str, Any]) -> dict[str, Any]:
    """The body through the REST route's own schema; ``InvalidInput`` naming the field."""
    try:
        loaded: dict[str, Any] = schema.load(body)
    except ma.ValidationError as error:
        errors = validation_errors(error.messages)
        raise InvalidInput(validation_message(errors), errors=errors) from None
    return loaded


def _number(raw: str | None) -> int | str | None:
    """A form's number field: blank is None (no limit), a whole number an int, anything
    else left as typed for the schema to name."""
    text = (raw or "").strip()
    if not text:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _quota_form() -> dict[str, Any]:
    """The weight and limits of a posted form, as the REST route's body."""
    weight = _number(request.form.get("weight"))
    return {
        "weight": 1 if weight is None else weight,
        "maxPending": _number(request.form.get("maxPending")),
        "maxRunning": _number(request.form.get("maxRunning")),
    }


def _change(
    render: Callable[..., ResponseReturnValue], target: str, action: Callable[[], Any]
) -> ResponseReturnValue:
    """Run ``action``; on success back to ``target``, on a refusal the page with the reason."""
    try:
        action()
    except ShoalError as error:
        if error.status >= 500:
            raise
        return render(problem=error.message, status=error.status)
    return redirect(url_for(target), code=303)


@blp.route("/admin/users")
@page("ADMIN")
def users() -> ResponseReturnValue:
    return _users_page()


def _users_page(*, problem: str = "", status: int = 200) -> ResponseReturnValue:
    with services().transaction() as conn:
        return render_page(
            "users.html",
            status,
            users=accounts.list_users(conn),
            approvals=accounts.list_pre_approved(conn),
            roles=ROLES,
            problem=problem,
        )


@blp.route("/admin/users", methods=["POST"])
@page("ADMIN")
def create_user() -> ResponseReturnValue:
    def act() -> None:
        body = {
            "email": request.form.get("email", "").strip(),
            "password": request.form.get("password", ""),
            "roles": request.form.getlist("roles"),
            **_quota_form(),
        }
        loaded = _load(NewUser(), body)
        svc = services()
        with svc.transaction() as conn:
            accounts.create_user(
                conn,
                svc.passwords,
                email=loaded["email"],
                password=loaded["password"],
                roles=loaded["roles"],
                actor_id=_actor(),
                settings=new_account(loaded),
            )

    return _change(_users_page, "ui.users", act)


@blp.route("/admin/users/<int:user_id>/quota", methods=["POST"])
@page("ADMIN")
def set_quota(user_id: int) -> ResponseReturnValue:
    def act() -> None:
        loaded = _load(QuotaBody(), _quota_form())
        with services().transaction() as conn:
            accounts.set_quota(
                conn,
                user_id,
                weight=loaded["weight"],
                max_pending=loaded["maxPending"],
                max_running=loaded["maxRunning"],
                actor_id=_actor(),
            )

    return _change(_users_page, "ui.users", act)


@blp.route("/admin/users/<int:user_id>/roles", methods=["POST"])
@page("ADMIN")
def set_roles(user_id: int) -> ResponseReturnValue:
    def act() -> None:
        roles = request.form.getlist("roles")
        if not roles:
            raise InvalidInput("Choose at least one role.")
        with services().transaction() as conn:
            accounts.set_roles(conn, user_id, roles, actor_id=_actor())

    return _change(_users_page, "ui.users", act)


@blp.route("/admin/users/<int:user_id>/delete", methods=["POST"])
@page("ADMIN")
def delete_user(user_id: int) -> ResponseReturnValue:
    def act() -> None:
        with services().transaction() as conn:
            accounts.delete_user(conn, user_id, actor_id=_actor())

    return _change(_users_page, "ui.users", act)


@blp.route("/admin/pre-approvals", methods=["POST"])
@page("ADMIN")
def pre_approve() -> ResponseReturnValue:
    def act() -> None:
        body = {
            "email": request.form.get("email", "").strip(),
            "roles": request.form.getlist("roles"),
        }
        loaded = _load(PreApprovalBody(), body)
        with services().transaction() as conn:
            accounts.pre_approve(conn, actor_id=_actor(), **loaded)

    return _change(_users_page, "ui.users", act)


@blp.route("/admin/pre-approvals/<int:approval_id>/delete", methods=["POST"])
@page("ADMIN")
def delete_pre_approval(approval_id: int) -> ResponseReturnValue:
    def act() -> None:
        with services().transaction() as conn:
            accounts.delete_pre_approved(conn, approval_id, actor_id=_actor())

    return _change(_users_page, "ui.users", act)


def _own_keys_only() -> int | None:
    return api_keys.keys_visible_to(current_session().principal)


@blp.route("/admin/api-keys")
@page("ANALYST")
def keys() -> ResponseReturnValue:
    return _keys_page()


def _keys_page(
    *, problem: str = "", status: int = 200, created: dict[str, Any] | None = None
) -> ResponseReturnValue:
    principal = current_session().principal
    with services().transaction() as conn:
        owners = {u.id: u.email for u in accounts.list_users(conn)} if principal.is_admin else {}
        return render_page(
            "api_keys.html",
            status,
            keys=api_keys.list_api_keys(conn, _own_keys_only()),
            roles=ROLES if principal.is_admin else sorted(principal.roles),
            owners=owners,
            problem=problem,
            created=created,
        )


@blp.route("/admin/api-keys", methods=["POST"])
@page("ANALYST")
def create_key() -> ResponseReturnValue:
    """Create a key (an admin: for any user) and show it on this one answer, never again."""
    owner = _number(request.form.get("ownerId"))
    body = {
        "name": request.form.get("name", ""),
        "roles": request.form.getlist("roles"),
        "ownerId": owner if _own_keys_only() is None else None,
    }
    try:
        loaded = _load(ApiKeyBody(), body)
        with services().transaction() as conn:
            row, key = api_keys.create_api_key(
                conn,
                name=loaded["name"],
                roles=loaded["roles"],
                owner_id=loaded["ownerId"] or _actor(),
                actor_id=_actor(),
            )
            created = {"id": row.id, "name": row.name, "roles": row.roles, "key": key}
    except ShoalError as error:
        if error.status >= 500:
            raise
        return _keys_page(problem=error.message, status=error.status)
    return _keys_page(created=created)


@blp.route("/admin/api-keys/<int:key_id>/revoke", methods=["POST"])
@page("ANALYST")
def revoke_key(key_id: int) -> ResponseReturnValue:
    def act() -> None:
        with services().transaction() as conn:
            api_keys.revoke_api_key(conn, key_id, actor_id=_actor(), owner_id=_own_keys_only())

    return _change(_keys_page, "ui.keys", act)
