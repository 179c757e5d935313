"""``shoal users`` and ``shoal api-keys`` against the real web API, with the CLI's own
credentials (an admin's API key, a researcher's email and password)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.cli.conftest import Shoal, run_shoal
from tests.webapi.conftest import IssuedKey
from tests.webapi.jobs.conftest import Caller


def _user(live_url: str, headers: dict[str, str], user_id: int) -> httpx.Response:
    return httpx.get(f"{live_url}/api/users/{user_id}", headers=headers, timeout=30)


def test_an_admin_creates_changes_and_deletes_a_user(
    shoal_as_admin: Shoal, live_url: str, api_key: Callable[..., IssuedKey]
) -> None:
    admin = api_key(("ADMIN",)).headers
    created = shoal_as_admin(
        "users",
        "create",
        "New@Example.org",
        "--role",
        "ANALYST",
        "--password",
        "long enough",
        "--weight",
        "2",
        "--max-pending",
        "10",
    )
    assert created.exit_code == 0, created.output
    user_id = int(created.stdout.split()[2])
    assert created.stdout == (
        f"created user {user_id} (new@example.org): roles ANALYST, weight 2, max pending 10, "
        "max running none\n"
    )
    changed = shoal_as_admin(
        "users", "set", "new@example.org", "--max-running", "3", "--max-pending", "none"
    )
    assert changed.exit_code == 0, changed.output
    user = _user(live_url, admin, user_id).json()["user"]
    assert (user["weight"], user["maxPending"], user["maxRunning"]) == (2, None, 3)

    roles = shoal_as_admin("users", "set-roles", str(user_id), "--role", "ANALYST,WORKER")
    assert roles.exit_code == 0, roles.output
    assert _user(live_url, admin, user_id).json()["user"]["roles"] == ["ANALYST", "WORKER"]
    listed = shoal_as_admin("users", "list", COLUMNS="160")
    [row] = [line for line in listed.stdout.splitlines() if "new@example.org" in line]
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        str(user_id),
        "new@example.org",
        "ANALYST, WORKER",
        "2",
        "none",
        "3",
        "",
    ]

    deleted = shoal_as_admin("users", "delete", "new@example.org", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout == f"deleted user {user_id} (new@example.org)\n"
    assert _user(live_url, admin, user_id).status_code == 404


def test_the_password_is_prompted_for_and_refusals_are_one_line(
    shoal_as_admin: Shoal, admin_env: dict[str, str | None]
) -> None:
    prompted = run_shoal(
        ["users", "create", "typed@example.org", "--role", "ANALYST"],
        admin_env,
        stdin="long enough\n" * 2,
    )
    assert prompted.exit_code == 0, prompted.output
    assert "created user" in prompted.stdout
    machine = shoal_as_admin(
        "users", "create", "reef@example.org", "--role", "WORKER", "--password", "long enough"
    )
    assert machine.stdout.rstrip().endswith(", system account")
    refused = shoal_as_admin("users", "delete", "reef@example.org", "--yes")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: reef@example.org is a system account (the platform runs as it) and cannot be "
        "deleted; revoke its API keys or change its roles instead [HTTP 409]\n"
    )
    unknown = shoal_as_admin("users", "set", "nobody@example.org", "--weight", "2")
    assert (unknown.exit_code, unknown.stderr) == (2, "error: no user nobody@example.org\n")
    bad = shoal_as_admin("users", "set", "typed@example.org", "--max-pending", "lots")
    assert bad.exit_code == 2 and "'lots' is neither a whole number nor 'none'" in bad.stderr


def test_a_researcher_manages_their_own_keys_and_a_key_acts_as_them(
    shoal_as_analyst: Shoal,
    analyst: Caller,
    live_url: str,
    api_key: Callable[..., IssuedKey],
) -> None:
    admins = api_key(("ADMIN",))
    created = shoal_as_analyst("api-keys", "create", "laptop")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("shoal_") and "\n" not in key
    assert "with roles ANALYST for user" in created.stderr
    as_key = {"X-API-Key": key}
    body = {"type": "TEST", "inputPayload": {"id": 7}}
    job_id = httpx.post(f"{live_url}/api/jobs", json=body, headers=as_key, timeout=30).json()[
        "jobId"
    ]
    job = httpx.get(f"{live_url}/api/jobs/{job_id}", headers=admins.headers, timeout=30)
    assert job.json()["job"]["user_id"] == analyst.user_id

    listed = shoal_as_analyst("api-keys", "list", "--json")
    [mine] = json.loads(listed.stdout)["apiKeys"]  # not the admin's key
    assert (mine["name"], mine["userId"]) == ("laptop", analyst.user_id)
    others = shoal_as_analyst("api-keys", "revoke", str(admins.id))
    assert others.exit_code == 1 and "[HTTP 404]" in others.stderr
    no_admin = shoal_as_analyst("users", "list")
    assert no_admin.exit_code == 1 and "[HTTP 403]" in no_admin.stderr
    revoked = shoal_as_analyst("api-keys", "revoke", str(mine["id"]))
    assert revoked.exit_code == 0 and revoked.stdout == f"revoked API key {mine['id']}\n"
    gone = httpx.get(f"{live_url}/api/auth/profile", headers=as_key, timeout=30)
    assert gone.status_code == 401


def test_an_admin_makes_a_key_for_a_researcher(
    shoal_as_admin: Shoal, analyst: Caller, live_url: str
) -> None:
    made = shoal_as_admin(
        "api-keys", "create", "ci", "--role", "ANALYST", "--owner", "analyst@example.org"
    )
    assert made.exit_code == 0, made.output
    assert made.stderr.endswith(f"with roles ANALYST for user {analyst.user_id}\n")
    as_key = {"X-API-Key": made.stdout.strip()}
    profile = httpx.get(f"{live_url}/api/auth/profile", headers=as_key, timeout=30).json()
    assert profile["user"] == {
        "id": analyst.user_id,
        "email": "analyst@example.org",
        "roles": ["ANALYST"],
    }
    too_much = shoal_as_admin(
        "api-keys", "create", "ci", "--role", "ADMIN", "--owner", "analyst@example.org"
    )
    assert too_much.exit_code == 1
    assert "analyst@example.org does not hold the role(s) ADMIN" in too_much.stderr
