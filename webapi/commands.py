"""The web API's commands: ``shoal webapi`` and ``shoal db`` (the schema, and the first
accounts and keys written straight into ``DATABASE_URL``, before any API runs).

Once the API runs, ``shoal users`` and ``shoal api-keys`` (``shoal_cli``) do the same
through it. Every failure prints one line and exits non-zero (2 for a bad setting),
never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.errors import SettingsError, ShoalError
from shared.settings import env_bool
from webapi import accounts
from webapi.auth.api_keys import create_api_key as create
from webapi.passwords import Passwords
from webapi.settings import WebSettings, database_url_from_env
from webapi.store.engine import make_engine

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _one_line_errors(command: F) -> F:
    """Turn shoal's and the database's errors into one line on stderr and an exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SettingsError as error:
            _fail(error.message, 2)
        except ShoalError as error:
            _fail(error.message)
        except SQLAlchemyError as error:
            detail = str(getattr(error, "orig", None) or error).strip().splitlines()
            _fail(f"database error: {detail[0] if detail else type(error).__name__}")

    return wrapper  # type: ignore[return-value]


@contextmanager
def _engine() -> Iterator[Engine]:
    engine = make_engine(database_url_from_env(os.environ), pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _transaction() -> Iterator[Connection]:
    with _engine() as engine, engine.begin() as conn:
        yield conn


def _roles(values: tuple[str, ...]) -> list[str]:
    """``--role A --role B`` or ``--role A,B``, checked."""
    roles = [part.strip().upper() for value in values for part in value.split(",") if part.strip()]
    return accounts.check_roles(roles)


@click.command()
@click.option(
    "--bind", default=None, help="host:port (default 0.0.0.0:5000, or $SHOAL_WEBAPI_BIND)"
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="worker processes")
@_one_line_errors
def webapi(bind: str | None, workers: int | None) -> None:
    """Run the web API under gunicorn against DATABASE_URL."""
    WebSettings.from_env(os.environ)  # fail here, in one line, not in every worker
    args = [sys.executable, "-m", "gunicorn", "-c", "python:webapi.gunicorn_conf"]
    if bind:
        args += ["--bind", bind]
    if workers:
        args += ["--workers", str(workers)]
    args.append("webapi.wsgi:create_app_from_env()")
    sys.stdout.flush()
    os.execv(sys.executable, args)  # noqa: S606 - gunicorn replaces this process


@click.group()
def db() -> None:
    """The database schema."""


@db.command()
@_one_line_errors
def upgrade() -> None:
    """Apply every migration to DATABASE_URL."""
    from webapi.store.migrate import upgrade as migrate  # noqa: PLC0415 - alembic (~0.3 s): db upgrade only

    with _engine() as engine:
        head = migrate(engine, database_url_from_env(os.environ))
    click.echo(f"database is at revision {head}")


@db.group()
def users() -> None:
    """User accounts, straight in the database (the first admin)."""


@users.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="ADMIN, ANALYST, DEFAULT or WORKER; repeatable",
)
@click.option("--exists-ok", is_flag=True, help="do nothing if the user already exists")
@click.option(
    "--system/--no-system",
    default=None,
    help="an account the platform runs as, never deleted (default: WORKER/MANAGER-only roles)",
)
@_one_line_errors
def create_user(
    email: str, password: str, roles: tuple[str, ...], exists_ok: bool, system: bool | None
) -> None:
    """Create a user (the first admin; after that, `shoal users create` through the API)."""
    checked = _roles(roles)
    passwords = Passwords.create(fast=env_bool(os.environ, "SHOAL_PASSWORD_HASH_FAST", False))
    with _transaction() as conn:
        existing = accounts.find_by_email(conn, email)
        if existing is not None and exists_ok:
            click.echo(f"user {existing.id} ({existing.email}) already exists")
            return
        user = accounts.create_user(
            conn,
            passwords,
            email=email,
            password=password,
            roles=checked,
            settings=accounts.NewAccount(system=system),
        )
        click.echo(f"created user {user.id} ({user.email}) with roles {', '.join(user.roles)}")


@db.group("api-keys")
def api_keys() -> None:
    """API keys for workers and the manager, straight in the database."""


@api_keys.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="repeatable")
@click.option("--owner", help="email of the admin the key acts for (default: the first admin)")
@_one_line_errors
def create_api_key(name: str, roles: tuple[str, ...], owner: str | None) -> None:
    """Create an API key and print it (it is shown only this once)."""
    checked = _roles(roles)
    with _transaction() as conn:
        user = accounts.find_by_email(conn, owner) if owner else accounts.first_admin(conn)
        if user is None:
            raise ShoalError(
                f"no user {owner}"
                if owner
                else "no admin exists yet; create one with "
                "`shoal db users create EMAIL --role ADMIN` or pass --owner"
            )
        row, key = create(conn, name=name, roles=checked, owner_id=user.id, actor_id=None)
        click.echo(f"created API key {row.id} ({row.name}) for {user.email}", err=True)
    click.echo(key)
