"""The budget gate stays on indexes: a submission finds its budget (or that there is
none) in one lookup of ``uq_budgets_user``, and counts its user's unfinished jobs on
``ix_jobs_user_status_id``, never by a scan of ``budgets`` or ``jobs``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.support import database
from tests.support.queue import bulk_jobs, make_user
from webapi.store.engine import make_engine
from webapi.store.sql import budgets as sql


def _scans(
    engine: Engine, statement: str, **params: Any
) -> list[tuple[str, str | None, str | None]]:
    """(node type, index, table) of each node that reads a table or an index."""
    with engine.connect() as conn:
        [[plan]] = conn.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params)
    found, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        todo.extend(node.get("Plans", []))
        if "Relation Name" in node or "Index Name" in node:
            found.append((node["Node Type"], node.get("Index Name"), node.get("Relation Name")))
    return found


@pytest.fixture(scope="module")
def many(pg_server: URL) -> Iterator[tuple[Engine, int]]:
    """2,000 users with budgets and a default; one of them with 100,000 ended jobs and
    10,000 PENDING ones, the others with 10 PENDING each."""
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            busy = make_user(engine, "busy@example.org")
            bulk_jobs(engine, busy, 100_000, status="SUCCEEDED")
            bulk_jobs(engine, busy, 10_000)
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO users (email, password_hash)"
                        " SELECT 'u' || i || '@example.org', 'x' FROM generate_series(1, 2000) i"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO budgets (user_id, cost_limit) SELECT id, 10 FROM users"
                        " UNION ALL SELECT NULL, 5"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                        " lease_seconds) SELECT 'TEST', u.id, jsonb_build_object('id', i),"
                        " md5(u.id || '.' || i), 3, 30"
                        " FROM users u, generate_series(1, 10) i WHERE u.id <> :busy"
                    ),
                    {"busy": busy},
                )
                conn.execute(text("ANALYZE"))
            yield engine, busy
        finally:
            engine.dispose()


def test_a_budget_is_found_by_one_index_lookup(many: tuple[Engine, int]) -> None:
    engine, busy = many
    for user_id in (busy, 999_999):  # one with a budget; one with the default only
        assert _scans(engine, sql.BUDGET_OF, user_id=user_id) == [
            ("Index Scan", "uq_budgets_user", "budgets")
        ]


def test_the_unfinished_jobs_are_counted_on_the_users_status_index(
    many: tuple[Engine, int],
) -> None:
    engine, busy = many
    scans = _scans(engine, sql.OPEN_JOBS, user_id=busy)
    assert ("Seq Scan", None, "jobs") not in scans, scans
    assert {index for _, index, _ in scans} - {None} == {"ix_jobs_user_status_id"}, scans
    with engine.connect() as conn:
        counted = conn.execute(text(sql.OPEN_JOBS), {"user_id": busy}).all()
    assert [(row.type, row.n) for row in counted] == [("TEST", 10_000)]
