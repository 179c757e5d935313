"""The web API's commands: db upgrade, users create, api-keys create, webapi."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, make_url, select, text
from sqlalchemy.engine import URL

from tests.e2e import live
from tests.support.migrations import alembic_config
from webapi.auth.api_keys import hash_key
from webapi.commands import api_keys, db, users, webapi
from webapi.store.migrate import MIGRATION_LOCK
from webapi.store.models import ApiKey, User


def run(command: object, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, args, env=env)  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_env(db_url_str: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url_str, "SHOAL_PASSWORD_HASH_FAST": "1"}


@pytest.fixture
def empty_database(pg_server: URL) -> Iterator[str]:
    """A database with no schema at all."""
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    name = f"shoal_empty_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_db_upgrade_migrates_an_empty_database_and_is_repeatable(empty_database: str) -> None:
    for _ in range(2):
        code, out, err = run(db, ["upgrade"], {"DATABASE_URL": empty_database})
        assert code == 0, err
        assert "database is at revision" in out
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_db_upgrade_from_several_processes_at_once(empty_database: str) -> None:
    """Starting tasks each run ``shoal db upgrade``: they take turns on the advisory lock.

    The test holds the lock until all four wait on it, then lets them race.
    """
    shoal = str(Path(sys.executable).with_name("shoal"))
    env = {**live.base_env(), "DATABASE_URL": empty_database}
    holder = create_engine(empty_database)
    runs: list[subprocess.Popen[bytes]] = []
    try:
        with holder.connect() as held:
            held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            for _ in range(4):
                runs.append(
                    subprocess.Popen(
                        [shoal, "db", "upgrade"],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                )
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            deadline = time.monotonic() + 60
            while held.execute(text(waiting)).scalar_one() < 4:
                assert time.monotonic() < deadline, "the upgrades never waited on the lock"
                assert all(run.poll() is None for run in runs), "an upgrade ran without the lock"
                time.sleep(0.05)
            held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        outcomes = [(run.communicate(timeout=60), run.returncode) for run in runs]
        assert [code for _, code in outcomes] == [0, 0, 0, 0], outcomes
        assert all(b"database is at revision" in out for (out, _), _ in outcomes)
        with holder.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            head = ScriptDirectory.from_config(alembic_config(make_url(empty_database)))
            assert list(versions) == [head.get_current_head()]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
            run.communicate()
        holder.dispose()


def test_db_upgrade_without_a_database_url_is_one_line() -> None:
    code, _, err = run(db, ["upgrade"], {"DATABASE_URL": "", "SHOAL_DB_HOST": ""})
    assert code == 2
    assert err.strip().count("\n") == 0 and "DATABASE_URL" in err


def test_users_create(cli_env: dict[str, str], engine: object) -> None:
    args = ["create", "Boss@Example.org", "--password", "long enough", "--role", "ADMIN,ANALYST"]
    code, out, err = run(users, args, cli_env)
    assert code == 0, err
    assert "boss@example.org" in out
    code, _, err = run(users, args, cli_env)
    assert code == 1 and err.strip() == "error: User already exists"
    code, out, _ = run(users, [*args, "--exists-ok"], cli_env)
    assert code == 0 and "already exists" in out
    code, _, err = run(
        users, ["create", "x@example.org", "--password", "short", "--role", "ADMIN"], cli_env
    )
    assert code == 1 and "password" in err and "Traceback" not in err
    code, _, err = run(
        users, ["create", "y@example.org", "--password", "long enough", "--role", "KING"], cli_env
    )
    assert code == 1 and "Roles" in err
    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        rows = conn.execute(select(User.email, User.roles)).all()
    assert [(r.email, sorted(r.roles)) for r in rows] == [
        ("boss@example.org", ["ADMIN", "ANALYST"])
    ]


def test_api_keys_create_prints_a_working_key(cli_env: dict[str, str], engine: object) -> None:
    assert isinstance(engine, Engine)
    code, _, err = run(api_keys, ["create", "workers", "--role", "WORKER"], cli_env)
    assert code == 1 and "no admin exists" in err
    run(users, ["create", "a@example.org", "--password", "long enough", "--role", "ADMIN"], cli_env)
    code, out, err = run(api_keys, ["create", "workers", "--role", "WORKER"], cli_env)
    assert code == 0, err
    key = out.strip()
    assert key.startswith("shoal_") and "\n" not in key
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey.key_hash, ApiKey.roles, ApiKey.user_id)).one()
        owner = conn.execute(select(User.id).where(User.email == "a@example.org")).scalar_one()
    assert (row.key_hash, row.roles, row.user_id) == (hash_key(key), ["WORKER"], owner)
    code, _, err = run(
        api_keys, ["create", "x", "--role", "WORKER", "--owner", "nobody@example.org"], cli_env
    )
    assert code == 1 and "nobody@example.org" in err


def test_database_down_is_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    code, _, err = run(
        users, ["create", "a@example.org", "--password", "long enough", "--role", "ADMIN"], env
    )
    assert code == 1
    assert err.startswith("error: database error:") and err.strip().count("\n") == 0


def test_webapi_with_a_bad_setting_exits_2_with_one_line(db_url_str: str) -> None:
    code, _, err = run(
        webapi,
        [],
        {"DATABASE_URL": db_url_str, "SHOAL_JWT_PRIVATE_KEY": "", "SHOAL_JWT_PRIVATE_KEY_FILE": ""},
    )
    assert code == 2
    assert (
        err.strip()
        == "error: SHOAL_JWT_PRIVATE_KEY (or SHOAL_JWT_PRIVATE_KEY_FILE) is required but not set"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_webapi_serves_under_gunicorn(
    db_url_str: str, jwt_key_pair: tuple[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url_str, "SHOAL_JWT_PRIVATE_KEY": jwt_key_pair[0]}
    shoal = os.path.join(os.path.dirname(sys.executable), "shoal")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [shoal, "webapi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        docs = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5)
        assert docs.status_code == 200 and "/api/auth/login" in docs.json()["paths"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
