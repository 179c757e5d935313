"""``shoal users`` (ADMIN) and ``shoal api-keys``: accounts and keys through the API.

They use the CLI's usual credentials (``SHOAL_API_KEY``, or ``SHOAL_EMAIL`` +
``SHOAL_PASSWORD``) and ``SHOAL_API_URL``, so they work wherever the API is reachable,
``shoal dev`` included. The very first admin of a fresh database is made with
``shoal db users create`` (straight in the database, on the web API's side).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.table import Table

from shared.client import ShoalClient
from shoal_cli.common import UsageError, echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup, printable

ROLE_HELP = "ADMIN, ANALYST, DEFAULT, WORKER or MANAGER; repeatable, or comma-separated"


NO_LIMIT = "none"


class Limit(click.ParamType):  # type: ignore[type-arg]
    """A whole number of jobs, or ``none`` (kept as the string) for no limit."""

    name = "N|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == NO_LIMIT:
            return NO_LIMIT
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor 'none'", param, ctx)
        if number < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return number


def _limit(value: int | str | None) -> int | None:
    return None if value is None or value == NO_LIMIT else int(value)


def _roles(values: tuple[str, ...]) -> list[str]:
    return sorted({part.strip().upper() for v in values for part in v.split(",") if part.strip()})


def find_user(client: ShoalClient, who: str) -> dict[str, Any]:
    """A user by id or email."""
    if who.isdigit():
        user: dict[str, Any] = client.request("GET", f"/api/users/{int(who)}")["user"]
        return user
    users = client.request("GET", "/api/users")["users"]
    found = [u for u in users if u["email"] == who.strip().lower()]
    if not found:
        raise UsageError(f"no user {who}")
    first: dict[str, Any] = found[0]
    return first


def _limit_text(value: int | None) -> str:
    return "none" if value is None else str(value)


def _describe(user: dict[str, Any]) -> str:
    system = ", system account" if user.get("system") else ""
    return (
        f"user {user['id']} ({user['email']}): roles {', '.join(user['roles'])}, "
        f"weight {user['weight']}, max pending {_limit_text(user['maxPending'])}, "
        f"max running {_limit_text(user['maxRunning'])}{system}"
    )


@click.group()
def users() -> None:
    """User accounts (ADMIN): list, create, set quota, set roles, delete."""


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def list_users(as_json: bool) -> None:
    """Every user with roles, weight and limits."""
    columns = ("id", "email", "roles", "weight", "max pending", "max running", "system")
    _list("/api/users", "users", as_json, columns, _user_row)


def _user_row(user: dict[str, Any]) -> list[str]:
    return [
        str(user["id"]),
        markup(user["email"]),
        ", ".join(user["roles"]),
        str(user["weight"]),
        _limit_text(user["maxPending"]),
        _limit_text(user["maxRunning"]),
        "yes" if user.get("system") else "",
    ]


def _list(
    path: str,
    key: str,
    as_json: bool,
    columns: tuple[str, ...],
    row: Callable[[dict[str, Any]], list[str]],
) -> None:
    """The API's list at ``path``: its JSON, or a table of ``columns``, one ``row`` each."""
    with make_client() as client:
        answer = client.request("GET", path)
    if as_json:
        echo_json(answer)
        return
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in answer[key]:
        table.add_row(*row(item))
    stdout_console().print(table)


@users.command("create")
@click.argument("email")
@click.option("--role", "roles", multiple=True, required=True, help=ROLE_HELP)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--weight", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--max-pending", type=Limit(), default=None, help="PENDING jobs at most (none)")
@click.option("--max-running", type=Limit(), default=None, help="running jobs per type (none)")
@click.option(
    "--system/--no-system",
    default=None,
    help="an account the platform runs as, never deleted (default: WORKER/MANAGER-only roles)",
)
@one_line_errors
def create_user(
    email: str,
    roles: tuple[str, ...],
    password: str,
    weight: int,
    max_pending: int | str | None,
    max_running: int | str | None,
    system: bool | None,
) -> None:
    """Create a user with roles, fair-share weight and limits."""
    body: dict[str, Any] = {
        "email": email,
        "password": password,
        "roles": _roles(roles),
        "weight": weight,
        "maxPending": _limit(max_pending),
        "maxRunning": _limit(max_running),
    }
    if system is not None:
        body["system"] = system
    with make_client() as client:
        user = client.request("POST", "/api/users", json=body)["user"]
    echo(f"created {_describe(user)}")


@users.command("set")
@click.argument("user")
@click.option("--weight", type=click.IntRange(1, 1000), default=None)
@click.option("--max-pending", type=Limit(), default=None, help="a number, or none")
@click.option("--max-running", type=Limit(), default=None, help="a number, or none")
@one_line_errors
def set_quota(
    user: str, weight: int | None, max_pending: int | str | None, max_running: int | str | None
) -> None:
    """Change a user's (id or email) weight and limits; what is not given stays."""
    if weight is None and max_pending is None and max_running is None:
        raise UsageError("nothing to change: give --weight, --max-pending or --max-running")
    with make_client() as client:
        found = find_user(client, user)
        body = {
            "weight": found["weight"] if weight is None else weight,
            "maxPending": found["maxPending"] if max_pending is None else _limit(max_pending),
            "maxRunning": found["maxRunning"] if max_running is None else _limit(max_running),
        }
        changed = client.request("PUT", f"/api/users/{found['id']}/quota", json=body)["user"]
    echo(f"changed {_describe(changed)}")


@users.command("set-roles")
@click.argument("user")
@click.option("--role", "roles", multiple=True, required=True, help=ROLE_HELP)
@one_line_errors
def set_roles(user: str, roles: tuple[str, ...]) -> None:
    """Replace a user's (id or email) roles."""
    with make_client() as client:
        found = find_user(client, user)
        body = {"roles": _roles(roles)}
        changed = client.request("PUT", f"/api/users/{found['id']}/roles", json=body)["user"]
    echo(f"changed {_describe(changed)}")


@users.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="do not ask")
@one_line_errors
def delete_user(user: str, yes: bool) -> None:
    """Delete a user (id or email) and everything they own."""
    with make_client() as client:
        found = find_user(client, user)
        if not yes:
            click.confirm(f"Delete {found['email']} and every job of theirs?", abort=True, err=True)
        client.request("DELETE", f"/api/users/{found['id']}")
    echo(f"deleted user {found['id']} ({found['email']})")


@click.group("api-keys")
def api_keys() -> None:
    """Your API keys (an admin's: anyone's): create, list, revoke."""


@api_keys.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True, default=("ANALYST",), show_default=True)
@click.option("--owner", help="ADMIN: the user (id or email) the key acts as")
@one_line_errors
def create_key(name: str, roles: tuple[str, ...], owner: str | None) -> None:
    """Create a key and print it on stdout (it is shown only this once)."""
    body: dict[str, Any] = {"name": name, "roles": _roles(roles)}
    with make_client() as client:
        if owner:
            body["ownerId"] = find_user(client, owner)["id"]
        created = client.request("POST", "/api/auth/api-keys", json=body)
    click.echo(
        f"created API key {created['id']} ({printable(created['name'])}) with roles "
        f"{', '.join(created['roles'])} for user {created['userId']}",
        err=True,
    )
    click.echo(created["key"])


@api_keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def list_keys(as_json: bool) -> None:
    """Keys not revoked (never the keys themselves)."""
    columns = ("id", "name", "prefix", "roles", "owner", "last used")
    _list("/api/auth/api-keys", "apiKeys", as_json, columns, _key_row)


def _key_row(key: dict[str, Any]) -> list[str]:
    return [
        str(key["id"]),
        markup(key["name"]),
        markup(key.get("prefix", "")),
        ", ".join(key["roles"]),
        str(key["userId"]),
        markup(key.get("last_used_at") or "never"),
    ]


@api_keys.command("revoke")
@click.argument("key_id", type=int, metavar="ID")
@one_line_errors
def revoke_key(key_id: int) -> None:
    """Revoke a key; anything using it stops working at once."""
    with make_client() as client:
        client.request("DELETE", f"/api/auth/api-keys/{key_id}")
    echo(f"revoked API key {key_id}")
