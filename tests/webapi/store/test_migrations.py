"""Migrations go up and down cleanly and match the models and functions.sql exactly."""

from __future__ import annotations

import re

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

from tests.support import database
from tests.support.migrations import alembic_config
from webapi.store.functions import FUNCTIONS_SQL
from webapi.store.models import Base


def _tables(url: URL) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(db_url: URL) -> None:
    config = alembic_config(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    command.downgrade(config, "base")
    assert _tables(db_url) == set()
    command.upgrade(config, "head")
    assert _tables(db_url) == set(Base.metadata.tables)


def test_autogenerate_finds_no_difference(db_url: URL) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


# The database's own functions and triggers (not an extension's, not a constraint's).
_FUNCTIONS = """
SELECT 'function ' || p.proname, pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""
_TRIGGERS = """
SELECT 'trigger ' || t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""


def _normalised(definition: str) -> str:
    """One space between words and none around punctuation: layout is not a difference."""
    return re.sub(r" ?([(),;]) ?", r"\1", re.sub(r"\s+", " ", definition)).strip()


def _code(url: URL) -> dict[str, str]:
    """``{"function name" | "trigger name": normalised definition}`` of a database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = [*conn.execute(text(_FUNCTIONS)), *conn.execute(text(_TRIGGERS))]
    finally:
        engine.dispose()
    return {name: _normalised(definition) for name, definition in rows}


def test_functions_sql_defines_exactly_the_migrated_functions_and_triggers(
    pg_server: URL, db_url: URL
) -> None:
    """The models plus functions.sql build the migrated database's functions and triggers:
    none missing on either side, each the same."""
    with database.fresh_database(pg_server, template="template0") as scratch:
        engine = create_engine(scratch)
        try:
            Base.metadata.create_all(engine)
            with engine.begin() as conn:
                conn.exec_driver_sql(FUNCTIONS_SQL.read_text())
        finally:
            engine.dispose()
        from_file = _code(scratch)
    migrated = _code(db_url)
    assert migrated, "the migrated database has functions and triggers"
    assert from_file == migrated
