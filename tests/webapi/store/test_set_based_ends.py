"""A statement that changes many jobs' status is counted in job_loads at once: one
update per type and user, not one per job (``job_loads_status_changed``, migration
0020), and the counters stay exact."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from tests.support.queue import bulk_jobs, claimant, load_drift, make_queue, make_user
from webapi.store.prepared import text as prepared
from webapi.store.sql import lease as lease_sql


def _counters(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT type, user_id, pending, running FROM job_loads ORDER BY type, user_id")
        )
        return [tuple(row) for row in rows]


def _updates_of_job_loads(conn: Connection) -> int:
    """Rows of job_loads updated by this connection's backend, this transaction's too (the
    count may hold earlier transactions' not yet reported: take differences)."""
    statement = "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'job_loads'"
    return int(conn.execute(text(statement)).scalar_one())


def test_cancelling_many_jobs_updates_each_counter_once(engine: Engine) -> None:
    queue = make_queue(engine)
    worker = claimant(make_user(engine, "worker@example.org", "WORKER"))
    users = [make_user(engine, f"user{i}@example.org") for i in range(2)]
    for user in users:
        bulk_jobs(engine, user, 30)
        bulk_jobs(engine, user, 10, job_type="POLYGON_STATS")
    assert len(queue.claim_many(["TEST", "POLYGON_STATS"], worker, 12)) == 12
    with engine.connect() as conn:
        job_ids = list(conn.execute(text("SELECT id FROM jobs")).scalars())
    with engine.begin() as conn:
        before = _updates_of_job_loads(conn)
        cancelled = conn.execute(prepared(lease_sql.CANCEL), {"job_ids": job_ids}).all()
        updates = _updates_of_job_loads(conn) - before
    assert len(cancelled) == 80
    assert updates == 4  # two users, two types: once each, whatever the number of jobs
    assert load_drift(engine) == []
    assert [row[2:] for row in _counters(engine)] == [(0, 0)] * 4


def test_jobs_made_live_by_hand_add_their_counter(engine: Engine) -> None:
    user = make_user(engine)
    bulk_jobs(engine, user, 5, status="SUCCEEDED")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET status = CASE WHEN id % 2 = 0 THEN 'PENDING' ELSE 'IN_PROGRESS'"
                " END::job_status, finished_at = NULL"
            )
        )
    assert load_drift(engine) == []
    [(job_type, owner, pending, running)] = _counters(engine)
    assert (job_type, owner, pending + running) == ("TEST", user, 5)
