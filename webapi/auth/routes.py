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
    roles = RolesField(
        required=True, metadata={"description": "At most the roles of the key's owner."}
    )
    ownerId = ma.fields.Integer(  # noqa: N815 - wire name
        strict=True,
        load_default=None,
        metadata={
            "description": "ADMIN only: the user the key acts as (default: the caller); "
            "what it creates is theirs"
        },
    )


class ApiKeyCreated(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    userId = ma.fields.Integer(metadata={"description": "The key's owner"})  # noqa: N815
    key = ma.fields.String(metadata={"description": "The key; shown only this once"})


class ApiKeyOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "The key's first characters"})
    roles = ma.fields.List(ma.fields.String())
    userId = ma.fields.Integer(  # noqa: N815 - wire name
        attribute="user_id", metadata={"description": "The key's owner, whom it acts as"}
    )
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


def _own_keys_only() -> int | None:
    return api_keys.keys_visible_to(current_principal())


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @require_roles("ANALYST")
    @blp.response(200, ApiKeysOut)
    def get(self) -> dict[str, Any]:
        """The caller's API keys that are not revoked, every user's for an admin (never
        the key itself)."""
        with services().transaction() as conn:
            return {"apiKeys": api_keys.list_api_keys(conn, _own_keys_only())}

    @require_roles("ANALYST")
    @blp.errors(400)
    @blp.arguments(ApiKeyBody)
    @blp.response(200, ApiKeyCreated)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an API key acting as the caller (an admin: as ``ownerId``), with at most
        its owner's roles; the key is shown only in this answer."""
        principal = current_principal()
        owner_id = body["ownerId"]
        if owner_id is not None and owner_id != principal.user_id and not principal.is_admin:
            raise Forbidden("Only an admin may create a key for another user (ownerId).")
        with services().transaction() as conn:
            row, key = api_keys.create_api_key(
                conn,
                name=body["name"],
                roles=body["roles"],
                owner_id=principal.user_id if owner_id is None else owner_id,
                actor_id=principal.user_id,
            )
            return {
                "id": row.id,
                "name": row.name,
                "roles": row.roles,
                "userId": row.user_id,
                "key": key,
            }


@blp.route("/api-keys/<int:key_id>", methods=["DELETE"])
@require_roles("ANALYST")
@blp.errors(404)
@blp.response(204)
def revoke_api_key(key_id: int) -> None:
    """Revoke one of the caller's API keys (an admin: anyone's); it stops working at once."""
    with services().transaction() as conn:
        api_keys.revoke_api_key(
            conn, key_id, actor_id=current_principal().user_id, owner_id=_own_keys_only()
        )
