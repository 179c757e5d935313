"""The claim statement keeps using its partial indexes when finished jobs pile up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from shared.db import queue_sql
from tests.support.queue import bulk_jobs, make_user


def _plan(engine: Engine, statement: str, **params: Any) -> dict[str, Any]:
    params |= {
        "task_arn": "t",
        "cluster_arn": "c",
        "user_id": None,
        "api_key_id": None,
        "storage_scheme": "LOCAL",
        "storage_base": "file:///x",
    }
    with engine.connect() as conn, conn.begin() as trans:
        rows = conn.execute(text("EXPLAIN (FORMAT JSON) " + statement), params)
        plan = rows.scalar_one()[0]["Plan"]
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


def test_claim_uses_index_with_a_million_finished_jobs(engine: Engine) -> None:
    user = make_user(engine)
    bulk_jobs(engine, user, 1_000_000, status="SUCCEEDED")
    bulk_jobs(engine, user, 1_000)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE jobs"))
    one = _plan(engine, queue_sql.CLAIM_ONE, type="TEST")
    scans = _jobs_scans(one)
    assert ("Index Scan", "ix_jobs_pending_type_created") in scans
    assert ("Index Scan", "ix_jobs_in_progress_lease") in scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
    # read in index order: the single-type claim needs no sort
    assert not [n for n in _nodes(one) if n["Node Type"] == "Sort"]
    many = _jobs_scans(_plan(engine, queue_sql.CLAIM_ANY, types=["TEST", "POLYGON_STATS"]))
    assert all(kind != "Seq Scan" for kind, _ in many), many
