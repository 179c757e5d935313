"""The cancel cascade walks dependencies by index: a batch's cancel starts from every
job of it, and a scan of job_dependencies per job made it quadratic (13 s at 10,000)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from shared.jobtypes import default_registry
from tests.support.queue import make_user
from webapi.store.queue_batches import Batches
from webapi.store.sql import dependencies as sql


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


def test_a_batch_cancel_reads_dependencies_by_index(engine: Engine) -> None:
    user = make_user(engine)
    batches = Batches(engine, default_registry())
    parents = batches.create(
        user_id=user, job_type="TEST", inputs=[{"id": i} for i in range(2_000)]
    )
    children = batches.create(
        user_id=user, job_type="TEST", inputs=[{"id": -i} for i in range(1, 2_001)]
    )
    with engine.begin() as conn:  # each child waits on one parent job
        conn.execute(
            text(
                "INSERT INTO job_dependencies (job_id, parent_job_id, condition)"
                " SELECT c, p, 'afterok' FROM unnest(CAST(:children AS bigint[]),"
                " CAST(:parents AS bigint[])) AS x(c, p)"
            ),
            {"children": children.job_ids, "parents": parents.job_ids},
        )
        conn.execute(text("ANALYZE"))
    params = {"job_ids": parents.job_ids, "batch_ids": [parents.batch.id], "reason": "x"}
    with engine.connect() as conn:
        explain = text(f"EXPLAIN (FORMAT JSON) {sql.CANCEL_DOWNSTREAM}")
        [plan] = conn.execute(explain, params).scalar_one()
    scans = _scans(plan["Plan"])
    assert ("Seq Scan", "job_dependencies") not in scans, scans
    assert ("Index Scan", "job_dependencies") in scans, scans
