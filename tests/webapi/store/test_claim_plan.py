"""The claim statement keeps using its partial indexes when finished jobs pile up.

Planned as the queue runs it: prepared on the server, with the plan PostgreSQL
picks for the values (custom) and the one it may switch to after a few runs
(generic, forced here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from shared.enums import JobStatus
from tests.support import database
from tests.support.queue import bulk_jobs, claimant, make_queue, make_user
from webapi.store import queue
from webapi.store.engine import make_engine
from webapi.store.prepared import Prepared


def _plan(engine: Engine, statement: Prepared, mode: str, **params: Any) -> dict[str, Any]:
    params |= {
        "task_arn": "t",
        "cluster_arn": "c",
        "user_id": None,
        "api_key_id": None,
        "storage_scheme": "LOCAL",
        "storage_base": "file:///x",
        "sizes": "{}",
        "capacity": "on_demand",
    }
    with engine.connect() as conn, conn.begin() as trans:
        conn.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))
        plan = statement.explain(conn, params)[0]["Plan"]
        trans.rollback()
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _jobs_scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (n["Node Type"], n.get("Index Name"))
        for n in _nodes(plan)
        if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]
    ]


@pytest.fixture(scope="module")
def big_queue(pg_server: URL) -> Iterator[Engine]:
    """One database with the big queue for every plan below (it takes a while to fill)."""
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            user = make_user(engine)
            bulk_jobs(engine, user, 1_000_000, status="SUCCEEDED")
            bulk_jobs(engine, user, 1_000)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE jobs"))
            yield engine
        finally:
            engine.dispose()


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("limit", [1, 50])
def test_claim_uses_index_with_a_million_finished_jobs(
    big_queue: Engine, mode: str, limit: int
) -> None:
    one = _plan(big_queue, queue._CLAIM_ONE, mode, type="TEST", limit=limit)
    scans = _jobs_scans(one)
    assert ("Index Scan", "ix_jobs_pending_type_created") in scans
    # The expired leases: by the lease index, or by the job lists' (status, id) index
    # (statistics decide; both read only the IN_PROGRESS jobs).
    expired = {"ix_jobs_in_progress_lease", "ix_jobs_status_id"}
    assert any(kind == "Index Scan" and index in expired for kind, index in scans), scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
    # The pending jobs are read in index order: no sort of them. (The expired leases,
    # IN_PROGRESS only, may be sorted by lease when the (status, id) index reads them.)
    sorts = [n for n in _nodes(one) if n["Node Type"] == "Sort"]
    pending = "ix_jobs_pending_type_created"
    assert not [n for n in sorts if any(m.get("Index Name") == pending for m in _nodes(n))]
    types = ["TEST", "POLYGON_STATS"]
    many = _jobs_scans(_plan(big_queue, queue._CLAIM_ANY, mode, types=types, limit=limit))
    assert all(kind != "Seq Scan" for kind, _ in many), many


USERS, PER_USER = 1_000, 1_000


@pytest.fixture(scope="module")
def fair_queue(pg_server: URL) -> Iterator[Engine]:
    """1,000 users with 1,000 PENDING jobs each, a tenth of them running."""
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO users (email, password_hash, roles) SELECT 'u' || u ||"
                        " '@example.org', 'x', ARRAY['ANALYST']::varchar[]"
                        " FROM generate_series(1, :users) AS u"
                    ),
                    {"users": USERS},
                )
                conn.execute(
                    text(
                        "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                        " lease_seconds, priority)"
                        " SELECT 'TEST', u.id, jsonb_build_object('id', i), md5(u.id || '-' || i),"
                        " 3, 30, i % 3 FROM users u, generate_series(1, :n) AS i"
                    ),
                    {"n": PER_USER},
                )
                conn.execute(
                    text(
                        "UPDATE jobs SET status = 'IN_PROGRESS', attempts = 1,"
                        " lease_expires_at = now() + interval '1 hour' WHERE id % 10 = 0"
                    )
                )
                conn.execute(text("ANALYZE jobs"))
                conn.execute(text("ANALYZE job_loads"))
            yield engine
        finally:
            engine.dispose()


def _sorts_over_jobs(plan: dict[str, Any], limited: bool = False) -> list[str]:
    """Sort nodes with an unlimited scan of jobs below them (a sort of the queue)."""
    found: list[str] = []
    kind = plan["Node Type"]
    if kind == "Sort":
        below = [n for n in _nodes(plan) if n.get("Relation Name") == "jobs"]
        limits = [n for n in _nodes(plan)[1:] if n["Node Type"] == "Limit"]
        if below and not limits:
            found.append(str(plan.get("Sort Key")))
    for child in plan.get("Plans", []):
        found.extend(_sorts_over_jobs(child))
    return found


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("limit", [1, 50])
def test_fair_claim_uses_indexes_at_a_million_jobs_of_a_thousand_users(
    fair_queue: Engine, mode: str, limit: int
) -> None:
    for statement, params in (
        (queue._FAIR_CLAIM_ONE, {"type": "TEST"}),
        (queue._FAIR_CLAIM_ANY, {"types": ["TEST", "POLYGON_STATS"]}),
    ):
        plan = _plan(fair_queue, statement, mode, limit=limit, **params)
        scans = [
            (n["Node Type"], n.get("Relation Name"), n.get("Index Name"))
            for n in _nodes(plan)
            if "Scan" in n["Node Type"] and n.get("Relation Name")
        ]
        assert ("Index Scan", "jobs", "ix_jobs_pending_type_user_priority") in scans, scans
        assert ("Index Scan", "jobs", "ix_jobs_in_progress_lease") in scans, scans
        assert any(s[1:] == ("job_loads", "ix_job_loads_pick") for s in scans), scans
        # The fixture's assignments and type revisions are a handful of rows: the
        # planner may read them whole; the queue and the counters never.
        small = {"job_assignments", "job_type_revisions"}
        assert not [s for s in scans if s[0] == "Seq Scan" and s[1] not in small], scans
        assert not _sorts_over_jobs(plan), plan


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
def test_oldest_first_claim_reads_no_whole_queue_of_a_million_pending(
    fair_queue: Engine, mode: str
) -> None:
    # The jobs it picked are started by key, never by a join with the whole queue.
    # (With several types the oldest-first claim does read and sort every PENDING
    # job of them: one reason fair share, which merges per type, is the default.)
    scans = _jobs_scans(_plan(fair_queue, queue._CLAIM_ONE, mode, limit=1, type="TEST"))
    assert all(kind != "Seq Scan" for kind, _ in scans), scans


def test_the_hot_statements_run_their_generic_plan_from_the_first_run(db_url_str: str) -> None:
    """No claim or result is planned again for its values: the plans above are the ones
    that run, whatever custom plans the server made before under other statistics."""
    engine = make_engine(db_url_str, pool_size=1, max_overflow=0)
    try:
        user = make_user(engine, roles="WORKER")
        bulk_jobs(engine, user, 8)
        for fair_share in (True, False):
            work = make_queue(engine, fair_share=fair_share)
            while claimed := work.claim_many(["TEST"], claimant(user), 1):
                work.complete(
                    claimed[0].assignment.id,
                    claimant(user),
                    status=JobStatus.SUCCEEDED,
                    result_payload={},
                )
            bulk_jobs(engine, user, 8)
        with engine.connect() as conn:  # the pool's one connection: the one that ran them
            runs = conn.execute(
                text("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
            ).all()
    finally:
        engine.dispose()
    assert {name for name, _, _ in runs} == {
        "shoal_fair_claim_one",
        "shoal_claim_one",
        "shoal_complete",
    }, runs
    # Each claim ran 9 times (the last found nothing), each complete 16 times.
    assert sorted((name, generic, custom) for name, generic, custom in runs) == [
        ("shoal_claim_one", 9, 0),
        ("shoal_complete", 16, 0),
        ("shoal_fair_claim_one", 9, 0),
    ]
