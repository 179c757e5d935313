"""``/api/auth``: register, login, tokens, logout, profile, password, API keys."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView

from shared.enums import AuditAction
from shared.errors import Forbidden, Unauthorized
from webapi import accounts, audit
from webapi.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from webapi.auth import api_keys, refresh_tokens, registration
from webapi.auth.guards import authenticated, current_principal, require_roles
from webapi.auth.login import INVALID_CREDENTIALS, limits_for, login
from webapi.auth.tokens import issue_access_token
from webapi.blueprint import Blueprint
from webapi.schemas import RolesField, Strict, UtcDateTime
from webapi.services import services

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and credentials")

_PASSWORD = ma.validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)


class Credentials(Strict):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=320))
    password = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_PASSWORD_LENGTH))


class Registration(Strict):
    email = ma.fields.Email(required=True)
    password = ma.fields.String(required=True, validate=_PASSWORD)


class RefreshBody(Strict):
    refreshToken = ma.fields.String(required=True)  # noqa: N815 - wire name


class PasswordChange(Strict):
    oldPassword = ma.fields.String(required=True)  # noqa: N815 - wire name
    newPassword = ma.fields.String(required=True, validate=_PASSWORD)  # noqa: N815


class RegisteredOut(ma.Schema):
    message = ma.fields.String(
        metadata={"description": "The same for a new email and one that has an account"}
    )


class TokensOut(ma.Schema):
    token = ma.fields.String()
    refreshToken = ma.fields.String()  # noqa: N815 - wire name


class TokenOut(ma.Schema):
    token = ma.fields.String()


class ProfileUser(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())


class ProfileOut(ma.Schema):
    user = ma.fields.Nested(ProfileUser)


class ApiKeyBody(Strict):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    roles = RolesField(required=True)


class ApiKeyCreated(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    key = ma.fields.String(metadata={"description": "The key; shown only this once"})


class ApiKeyOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    created_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True)


class ApiKeysOut(ma.Schema):
    apiKeys = ma.fields.List(ma.fields.Nested(ApiKeyOut))  # noqa: N815 - wire name


@blp.route("/register", methods=["POST"])
@blp.errors(403, 429)
@blp.arguments(Registration)
@blp.response(200, RegisteredOut)
def register(body: dict[str, Any]) -> dict[str, Any]:
    """Create an account (DEFAULT, or the roles its email was pre-approved with).

    An email that already has an account gets the same answer, after the same work,
    and nothing changes: registering never tells whether an email has an account.
    ``SHOAL_REGISTRATION`` may close registration (403) or open it only to
    pre-approved emails (403 for others); each client address has a limit (429).
    """
    address = request.remote_addr or "unknown"
    registration.register(
        services(), email=body["email"], password=body["password"], address=address
    )
    return {"message": registration.REGISTERED}


@blp.route("/login", methods=["POST"])
@blp.errors(401, 429)
@blp.arguments(Credentials)
@blp.response(200, TokensOut)
def login_view(body: dict[str, Any]) -> dict[str, Any]:
    """Trade an email and password for an access token and a refresh token."""
    address = request.remote_addr or "unknown"
    tokens = login(services(), email=body["email"], password=body["password"], address=address)
    return {"token": tokens.token, "refreshToken": tokens.refresh_token}


@blp.route("/token", methods=["POST"])
@blp.errors(401)
@blp.arguments(RefreshBody)
@blp.response(200, TokenOut)
def token(body: dict[str, Any]) -> dict[str, Any]:
    """A new access token for a live refresh token."""
    with services().transaction() as conn:
        user = refresh_tokens.user_for_refresh_token(conn, body["refreshToken"])
        return {"token": issue_access_token(user.id, user.email, user.roles)}


@blp.route("/logout", methods=["POST"])
@blp.errors(401)
@blp.arguments(RefreshBody)
@blp.response(204)
def logout(body: dict[str, Any]) -> None:
    """Revoke a refresh token."""
    with services().transaction() as conn:
        user = refresh_tokens.revoke_refresh_token(conn, body["refreshToken"])
        audit.record(conn, AuditAction.LOGOUT, user_id=user.id, actor_id=user.id)


@blp.route("/profile", methods=["GET"])
@authenticated
@blp.response(200, ProfileOut)
def profile() -> dict[str, Any]:
    """The caller's id, email and roles."""
    principal = current_principal()
    user = {"id": principal.user_id, "email": principal.email, "roles": sorted(principal.roles)}
    return {"user": user}


@blp.route("/change-password", methods=["PUT"])
@authenticated
@blp.errors(403, 429)
@blp.arguments(PasswordChange)
@blp.response(204)
def change_password(body: dict[str, Any]) -> None:
    """Change the caller's password; every refresh token of the account is revoked."""
    principal = current_principal()
    if principal.api_key_id is not None:
        raise Forbidden("An API key cannot change a password; log in as the user.")
    svc = services()
    limits = limits_for(svc)
    address = request.remote_addr or "unknown"
    with svc.transaction() as conn:
        limits.admit(conn, principal.email, address)
        user = accounts.get_user(conn, principal.user_id)
    if not svc.passwords.verify(user.password_hash, body["oldPassword"]):
        raise Unauthorized(INVALID_CREDENTIALS)
    with svc.transaction() as conn:
        limits.succeeded(conn, principal.email, address)
        user = accounts.get_user(conn, principal.user_id, lock=True)
        accounts.change_password(conn, svc.passwords, user, body["newPassword"])


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @require_roles("ADMIN")
    @blp.response(200, ApiKeysOut)
    def get(self) -> dict[str, Any]:
        """Every API key that is not revoked (never the key itself)."""
        with services().transaction() as conn:
            return {"apiKeys": api_keys.list_api_keys(conn)}

    @require_roles("ADMIN")
    @blp.arguments(ApiKeyBody)
    @blp.response(200, ApiKeyCreated)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an API key acting for the caller; the key is shown only in this answer."""
        principal = current_principal()
        with services().transaction() as conn:
            row, key = api_keys.create_api_key(
                conn,
                name=body["name"],
                roles=body["roles"],
                owner_id=principal.user_id,
                actor_id=principal.user_id,
            )
            return {"id": row.id, "name": row.name, "roles": row.roles, "key": key}


@blp.route("/api-keys/<int:key_id>", methods=["DELETE"])
@require_roles("ADMIN")
@blp.errors(404)
@blp.response(204)
def revoke_api_key(key_id: int) -> None:
    """Revoke an API key; it stops working at once."""
    with services().transaction() as conn:
        api_keys.revoke_api_key(conn, key_id, actor_id=current_principal().user_id)
