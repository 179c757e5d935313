"""The frequent updates stay heap-only (HOT) where they can: no index covers a column
that a heartbeat, a result or a counter stripe writes, and the hot tables leave room on
their pages for the new row version (migration 0021)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from tests.support.queue import bulk_jobs, claimant, make_queue, make_user
from webapi.store.prepared import text as prepared
from webapi.store.sql import lease as lease_sql

# The columns each frequent update writes, beyond the status a claim or result changes
# (which the claim's partial indexes cover, so those updates of jobs are never HOT).
WRITTEN = {
    # heartbeat, result
    "job_assignments": {"expires_at", "heartbeat_at", "updated_at", "completed_at", "outcome"},
    # heartbeat (progress)
    "jobs": {"progress", "progress_message", "updated_at"},
    # every claim and result of a user whose job_loads row is busy
    "job_load_stripes": {"pending", "running", "waiting_since"},
}

# Every column an index of the table reads: its keys, expressions and predicate.
_INDEXED = """
SELECT DISTINCT a.attname
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0
WHERE t.relname = :table
  AND (a.attnum = ANY(i.indkey)
       OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M')
       OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
"""


def _indexed(conn: Connection, table: str) -> set[str]:
    return set(conn.execute(text(_INDEXED), {"table": table}).scalars())


def test_no_index_reads_a_column_the_frequent_updates_write(engine: Engine) -> None:
    with engine.connect() as conn:
        for table, written in WRITTEN.items():
            indexed = _indexed(conn, table)
            assert indexed, table  # the query finds the table's indexes at all
            assert indexed.isdisjoint(written), (table, indexed & written)


def test_the_counters_leave_room_on_their_pages(engine: Engine) -> None:
    with engine.connect() as conn:
        options = dict(
            conn.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:tables)"),
                {"tables": ["jobs", "job_assignments", "job_loads", "job_load_stripes"]},
            ).all()
        )
    assert options == {
        "jobs": None,
        "job_assignments": None,
        "job_loads": ["fillfactor=50"],
        "job_load_stripes": ["fillfactor=50"],
    }


def _updates(conn: Connection, table: str) -> tuple[int, int]:
    """(updates, HOT updates) of a table in this connection's transaction."""
    row = conn.execute(
        text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = :t"),
        {"t": table},
    ).one()
    return int(row[0]), int(row[1])


def test_a_heartbeat_and_a_result_update_the_assignment_heap_only(engine: Engine) -> None:
    queue = make_queue(engine)
    worker = make_user(engine, "worker@example.org", "WORKER")
    bulk_jobs(engine, make_user(engine), 3)
    claimed = queue.claim(["TEST"], claimant(worker))
    assert claimed is not None
    caller = {"assignment_id": claimed.assignment.id, "user_id": worker, "api_key_id": None}
    with engine.begin() as conn:  # the queue's own statements, counted in one transaction
        before = _updates(conn, "job_assignments")
        beat = conn.execute(
            prepared(lease_sql.HEARTBEAT), {**caller, "progress": 0.5, "message": "half"}
        )
        assert beat.all()
        done = conn.execute(
            prepared(lease_sql.COMPLETE),
            {
                **caller,
                "payload": "{}",
                "status": "SUCCEEDED",
                "error": None,
                "metadata": "{}",
            },
        )
        assert done.all()
        after = _updates(conn, "job_assignments")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
