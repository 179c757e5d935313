"""The process that changes a credential forgets it when its transaction commits, and
its bookkeeping never stands in the way of a transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from webapi.auth.principal_cache import PrincipalCache, UserEntry, announce

USER = UserEntry(user_id=7, email="a@example.org", roles=frozenset({"ANALYST"}))


def test_an_announced_change_is_forgotten_once_committed_and_kept_on_rollback(
    engine: Engine,
) -> None:
    cache = PrincipalCache(ttl_seconds=3600)
    cache.follow(lambda: True, engine)  # as if the listener were connected
    loads: list[int] = []

    def load() -> UserEntry:
        loads.append(USER.user_id)
        return USER

    cache.user(USER.user_id, load)
    with engine.connect() as conn:
        announce(conn, "user", USER.user_id)
        conn.rollback()
        conn.exec_driver_sql("SELECT 1")
        conn.commit()  # the same connection's next transaction commits
    cache.user(USER.user_id, load)
    assert len(loads) == 1  # a rolled back change forgets nothing, then or later

    with engine.begin() as conn:
        announce(conn, "user", USER.user_id)
        cache.user(USER.user_id, load)
        assert len(loads) == 1  # not committed yet: still cached
    cache.user(USER.user_id, load)
    assert len(loads) == 2  # committed: loaded again


def test_a_connection_lost_mid_transaction_fails_with_the_database_error(engine: Engine) -> None:
    """What the database raised reaches the error handler (a 503), not the cache's own error."""
    PrincipalCache(ttl_seconds=3600).follow(lambda: True, engine)
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
