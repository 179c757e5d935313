"""``Autocommit``: one statement, one round trip, and the connection is transactional again
when it goes back to the pool."""

from __future__ import annotations

from sqlalchemy import Engine, text

from webapi.store.engine import Autocommit, make_engine
from webapi.store.workers import ContactBook


def _last_statement(engine: Engine, pid: int) -> str:
    with engine.connect() as conn:
        query = "SELECT query FROM pg_stat_activity WHERE pid = :pid"
        return str(conn.execute(text(query), {"pid": pid}).scalar_one())


def test_nothing_reaches_the_server_after_the_statement(db_url_str: str, engine: Engine) -> None:
    one = make_engine(db_url_str, pool_size=1, max_overflow=0)  # every use is one connection
    try:
        for n in range(3):  # again and again: the way back to the pool sends nothing either
            with Autocommit(one).connect() as conn:
                pid = conn.exec_driver_sql(f"SELECT pg_backend_pid(), {n}").scalar_one()
            assert _last_statement(engine, pid) == f"SELECT pg_backend_pid(), {n}"
    finally:
        one.dispose()


def test_each_statement_commits_and_the_pool_gets_transactions_back(
    db_url_str: str, engine: Engine
) -> None:
    one = make_engine(db_url_str, pool_size=1, max_overflow=0)
    try:
        with Autocommit(one).connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n int)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            # Committed already, while this connection is still held.
            with engine.connect() as other:
                assert other.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
        with one.connect() as conn:  # the same connection, in a transaction again
            conn.execute(text("INSERT INTO t VALUES (2)"))
            xact = "SELECT pg_current_xact_id_if_assigned() IS NOT NULL"
            assert conn.execute(text(xact)).scalar_one()
            conn.rollback()
        with engine.connect() as other:
            assert other.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        one.dispose()


def test_a_workers_contact_is_one_statement_with_no_commit_after_it(
    db_url_str: str, engine: Engine
) -> None:
    one = make_engine(db_url_str, pool_size=1, max_overflow=0)
    try:
        with one.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            conn.rollback()
        ContactBook(one).touch("task-1", 10)
        assert _last_statement(engine, pid).lstrip().startswith("INSERT INTO workers")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM workers")).scalar_one() == 1
    finally:
        one.dispose()


def test_a_connection_pinged_after_idling_switches_to_autocommit(db_url_str: str) -> None:
    # Idle for any time at all: every checkout pings the connection first.
    one = make_engine(db_url_str, pool_size=1, max_overflow=0, ping_idle_seconds=0)
    try:
        for n in range(3):
            with Autocommit(one).connect() as conn:
                assert conn.exec_driver_sql(f"SELECT {n}").scalar_one() == n
    finally:
        one.dispose()
