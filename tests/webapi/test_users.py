"""/api/users (ADMIN): accounts, roles, pre-approval; never a password hash."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select

from shared.enums import AuditAction
from tests.webapi.conftest import IssuedKey, MakeUser
from webapi.services import Services
from webapi.store.models import User, UserLog

Headers = Callable[[str], dict[str, str]]


def test_admin_manages_users(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers, services: Services
) -> None:
    admin_id, token = admin
    headers = auth_headers(token)
    created = client.post(
        "/api/users",
        json={"email": "new@example.org", "password": "long enough", "roles": ["ANALYST"]},
        headers=headers,
    )
    assert created.status_code == 200
    user = created.json["user"]
    assert set(user) == {
        "id",
        "email",
        "roles",
        "created_at",
        "weight",
        "maxPending",
        "maxRunning",
        "system",
    }
    assert user["roles"] == ["ANALYST"] and user["created_at"].endswith("Z")

    listed = client.get("/api/users", headers=headers)
    assert listed.status_code == 200
    assert [u["email"] for u in listed.json["users"]] == ["admin@example.org", "new@example.org"]
    one = client.get(f"/api/users/{user['id']}", headers=headers)
    assert one.status_code == 200 and one.json["user"] == user

    changed = client.put(
        f"/api/users/{user['id']}/roles", json={"roles": ["WORKER", "ANALYST"]}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json["user"]["roles"] == ["ANALYST", "WORKER"]

    deleted = client.delete(f"/api/users/{user['id']}", headers=headers)
    assert deleted.status_code == 204
    assert client.get(f"/api/users/{user['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/users/{user['id']}", headers=headers).status_code == 404
    assert (
        client.put(
            "/api/users/999999/roles", json={"roles": ["ADMIN"]}, headers=headers
        ).status_code
        == 404
    )

    with services.transaction() as conn:
        actions = conn.scalars(
            select(UserLog.action).where(UserLog.actor_id == admin_id).order_by(UserLog.id)
        ).all()
    assert actions == [
        AuditAction.USER_CREATED,
        AuditAction.ROLES_CHANGED,
        AuditAction.USER_DELETED,
    ]


def test_no_route_returns_a_password_hash(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers, services: Services
) -> None:
    headers = auth_headers(admin[1])
    client.post(
        "/api/users",
        json={"email": "n@example.org", "password": "long enough", "roles": ["DEFAULT"]},
        headers=headers,
    )
    with services.transaction() as conn:
        hashes = conn.scalars(select(User.password_hash)).all()
    bodies = [
        client.get("/api/users", headers=headers).get_data(as_text=True),
        client.get("/api/users/1", headers=headers).get_data(as_text=True),
        client.get("/api/auth/profile", headers=headers).get_data(as_text=True),
    ]
    for body in bodies:
        assert "password" not in body and "argon2" not in body
        assert not any(h in body for h in hashes)


def test_user_creation_is_validated(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    headers = auth_headers(admin[1])
    bad = [
        {"email": "x@example.org", "password": "long enough", "roles": ["SUPERUSER"]},
        {"email": "x@example.org", "password": "short", "roles": ["DEFAULT"]},
        {"email": "not an email", "password": "long enough", "roles": ["DEFAULT"]},
        {"email": "x@example.org", "password": "long enough", "roles": []},
    ]
    for body in bad:
        assert client.post("/api/users", json=body, headers=headers).status_code == 400, body
    duplicate = client.post(
        "/api/users",
        json={"email": "ADMIN@example.org", "password": "long enough", "roles": ["DEFAULT"]},
        headers=headers,
    )
    assert duplicate.status_code == 400 and duplicate.json["message"] == "User already exists"


def test_admin_cannot_lock_themselves_out(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    admin_id, token = admin
    headers = auth_headers(token)
    demote = client.put(
        f"/api/users/{admin_id}/roles", json={"roles": ["ANALYST"]}, headers=headers
    )
    assert demote.status_code == 400
    assert client.delete(f"/api/users/{admin_id}", headers=headers).status_code == 400
    assert client.get("/api/users", headers=headers).status_code == 200


def test_non_admins_are_refused(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Headers,
    api_key: Callable[..., IssuedKey],
) -> None:
    _, analyst = make_user(roles=("ANALYST",))
    worker = api_key(("WORKER",))
    for headers in (auth_headers(analyst), worker.headers):
        assert client.get("/api/users", headers=headers).status_code == 403
        assert client.get("/api/users/pre-approved", headers=headers).status_code == 403
        body = {"email": "x@example.org", "password": "long enough", "roles": ["ADMIN"]}
        assert client.post("/api/users", json=body, headers=headers).status_code == 403
    assert client.get("/api/users").status_code == 401


def test_pre_approved_email_gets_its_roles(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    headers = auth_headers(admin[1])
    approved = client.post(
        "/api/users/pre-approved",
        json={"email": "Lead@Example.org", "roles": ["ANALYST", "ADMIN"]},
        headers=headers,
    )
    assert approved.status_code == 200
    entry = approved.json["preApprovedUser"]
    assert entry["email"] == "lead@example.org" and entry["used"] is False
    again = client.post(
        "/api/users/pre-approved",
        json={"email": "lead@example.org", "roles": ["ANALYST"]},
        headers=headers,
    )
    assert again.status_code == 400

    registered = client.post(
        "/api/auth/register", json={"email": "lead@example.org", "password": "long enough"}
    )
    assert registered.status_code == 200
    users = client.get("/api/users", headers=headers).json["users"]
    [user] = [user for user in users if user["email"] == "lead@example.org"]
    assert user["roles"] == ["ADMIN", "ANALYST"]
    listed = client.get("/api/users/pre-approved", headers=headers).json["preApprovedUsers"]
    assert [(e["email"], e["used"]) for e in listed] == [("lead@example.org", True)]

    assert (
        client.delete(f"/api/users/pre-approved/{entry['id']}", headers=headers).status_code == 204
    )
    assert (
        client.delete(f"/api/users/pre-approved/{entry['id']}", headers=headers).status_code == 404
    )
    assert client.get("/api/users/pre-approved", headers=headers).json == {"preApprovedUsers": []}


def test_pre_approving_an_existing_user_is_refused(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    response = client.post(
        "/api/users/pre-approved",
        json={"email": "admin@example.org", "roles": ["ANALYST"]},
        headers=auth_headers(admin[1]),
    )
    assert response.status_code == 400


def test_a_user_is_created_with_weight_and_limits_in_one_call(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers, services: Services
) -> None:
    admin_id, token = admin
    body = {
        "email": "sweeper@example.org",
        "password": "long enough",
        "roles": ["ANALYST"],
        "weight": 3,
        "maxPending": 50,
        "maxRunning": 2,
    }
    created = client.post("/api/users", json=body, headers=auth_headers(token))
    assert created.status_code == 200, created.json
    user = created.json["user"]
    assert (user["weight"], user["maxPending"], user["maxRunning"], user["system"]) == (
        3,
        50,
        2,
        False,
    )
    with services.transaction() as conn:
        [(actor_id, metadata)] = conn.execute(
            select(UserLog.actor_id, UserLog.metadata_).where(
                UserLog.action == AuditAction.USER_CREATED, UserLog.user_id == user["id"]
            )
        ).all()
    assert actor_id == admin_id
    assert (metadata["weight"], metadata["maxPending"], metadata["maxRunning"]) == (3, 50, 2)
    for bad in ({"weight": 0}, {"maxPending": -1}, {"maxRunning": "two"}, {"system": "maybe"}):
        answer = client.post(
            "/api/users",
            json={**body, "email": "bad@example.org", **bad},
            headers=auth_headers(token),
        )
        assert answer.status_code == 400, bad
        assert set(answer.json["errors"]) == set(bad), answer.json
    listed = client.get("/api/users", headers=auth_headers(token)).json["users"]
    assert "bad@example.org" not in {u["email"] for u in listed}


def test_system_accounts_cannot_be_deleted(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers
) -> None:
    headers = auth_headers(admin[1])

    def create(email: str, roles: list[str], **extra: bool) -> dict[str, object]:
        body = {"email": email, "password": "long enough", "roles": roles, **extra}
        answer = client.post("/api/users", json=body, headers=headers)
        assert answer.status_code == 200, answer.json
        user: dict[str, object] = answer.json["user"]
        return user

    manager = create("manager@shoal.local", ["ADMIN"], system=True)
    reef_worker = create("reef-worker@example.org", ["WORKER"])  # machine roles only
    person = create("person@example.org", ["ANALYST", "WORKER"])
    assert (manager["system"], reef_worker["system"], person["system"]) == (True, True, False)
    for account in (manager, reef_worker):
        refused = client.delete(f"/api/users/{account['id']}", headers=headers)
        assert refused.status_code == 409
        assert refused.json["message"] == (
            f"{account['email']} is a system account (the platform runs as it) and cannot be "
            "deleted; revoke its API keys or change its roles instead."
        )
    assert client.delete(f"/api/users/{person['id']}", headers=headers).status_code == 204
    left = {u["email"] for u in client.get("/api/users", headers=headers).json["users"]}
    assert left == {"admin@example.org", "manager@shoal.local", "reef-worker@example.org"}


def test_pre_approvals_and_their_withdrawal_are_audited(
    client: FlaskClient, admin: tuple[int, str], auth_headers: Headers, services: Services
) -> None:
    admin_id, token = admin
    headers = auth_headers(token)
    body = {"email": "Invited@Example.org", "roles": ["ANALYST"]}
    made = client.post("/api/users/pre-approved", json=body, headers=headers)
    assert made.status_code == 200, made.json
    approval_id = made.json["preApprovedUser"]["id"]
    withdrawn = client.delete(f"/api/users/pre-approved/{approval_id}", headers=headers)
    assert withdrawn.status_code == 204
    with services.transaction() as conn:
        entries = conn.execute(
            select(UserLog.action, UserLog.actor_id, UserLog.metadata_)
            .where(
                UserLog.action.in_([AuditAction.PRE_APPROVED, AuditAction.PRE_APPROVAL_WITHDRAWN])
            )
            .order_by(UserLog.id)
        ).all()
    assert [tuple(entry) for entry in entries] == [
        (
            AuditAction.PRE_APPROVED,
            admin_id,
            {"email": "invited@example.org", "roles": ["ANALYST"]},
        ),
        (AuditAction.PRE_APPROVAL_WITHDRAWN, admin_id, {"email": "invited@example.org"}),
    ]
