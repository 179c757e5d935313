"""Migrations go up and down cleanly and match the models exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL

from tests.support.migrations import alembic_config
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
