"""Migrating a database to the newest schema (``shoal db upgrade``), one task at a time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from webapi.store.prepared import text
from webapi.store.sql import database as sql

MIGRATIONS = Path(__file__).with_name("migrations")
# Held while migrating, so web API tasks starting together migrate one at a time.
MIGRATION_LOCK = 0x5_40A1


def upgrade(engine: Engine, url: str) -> str | None:
    """Apply every migration to the database at ``url`` (``engine``'s); the head revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    lock = {"key": MIGRATION_LOCK}
    with engine.connect() as connection:
        connection.execute(text(sql.LOCK_MIGRATIONS), lock)
        connection.commit()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
        connection.execute(text(sql.UNLOCK_MIGRATIONS), lock)
        connection.commit()
    return ScriptDirectory.from_config(config).get_current_head()
