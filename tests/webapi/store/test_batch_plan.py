"""A batch's page reads stay on indexes when the batch is one of many: its status, its
failed inputs, its results for the archive and a job's batch each read the batch's
own requests by index and their jobs by key, never the whole tables (here a batch of
500 beside 200,000 jobs, half of them failed, each with a result). A batch that is a
large part of ``jobs`` may get a hash join over a scan of it instead, the planner's
cheaper choice: for 10,000 inputs, tens of milliseconds either way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from shared.jobtypes import default_registry
from tests.support import database
from tests.support.queue import bulk_jobs, make_user
from webapi.store.engine import make_engine
from webapi.store.queue_batches import Batches
from webapi.store.sql import batches as batches_sql

BATCH = 500


@pytest.fixture(scope="module")
def many_batches(pg_server: URL) -> Iterator[tuple[Engine, int, int]]:
    """A batch beside 200,000 other jobs in 40 batches, half of them failed, each with
    its result: a plan that starts from failed jobs or results reads them all."""
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            user = make_user(engine)
            bulk_jobs(engine, user, 100_000, status="SUCCEEDED")
            bulk_jobs(engine, user, 100_000, status="FAILED")
            with engine.begin() as conn:
                conn.execute(text(_OTHER_BATCHES), {"user_id": user})
                conn.execute(text(_RESULTS))
            inputs = [{"id": -n} for n in range(BATCH)]
            created = Batches(engine, default_registry()).create(
                user_id=user, job_type="TEST", inputs=inputs
            )
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            yield engine, created.batch.id, created.job_ids[BATCH // 2]
        finally:
            engine.dispose()


# The other jobs' requests, in 40 batches of 5,000.
_OTHER_BATCHES = """
WITH b AS (
  INSERT INTO job_batches (user_id, type, size)
  SELECT :user_id, 'TEST', 5000 FROM generate_series(1, 40) RETURNING id
), numbered AS (
  SELECT b.id, row_number() OVER (ORDER BY b.id) - 1 AS n FROM b
)
INSERT INTO job_requests (user_id, type, input_payload, cache_hit, job_id, batch_id, input_index)
SELECT j.user_id, j.type, j.input_payload, false, j.id, numbered.id, (j.id - 1) % 5000 + 1
FROM jobs j JOIN numbered ON numbered.n = (j.id - 1) / 5000
"""

# A result (an attempt) for each job: enough of a row for the plans.
_RESULTS = """
WITH a AS (
  INSERT INTO job_assignments (job_id, attempt, ecs_task_arn, ecs_cluster_arn, expires_at,
      storage_scheme, storage_uri)
  SELECT id, 1, 't', 'c', now(), 'LOCAL', 'file:///x' FROM jobs RETURNING id, job_id
)
INSERT INTO job_results (job_id, assignment_id, storage_scheme, storage_uri)
SELECT job_id, id, 'LOCAL', 'file:///x' FROM a
"""


def _scans(engine: Engine, statement: str, **params: Any) -> list[tuple[str, str, str | None]]:
    """(table, node, index) of each scan; an index scan without a condition (the whole
    index read) counts as a ``Full Index Scan``."""
    with engine.connect() as conn:
        plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params).scalar_one()
    found, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        if "Relation Name" in node:
            kind = node["Node Type"]
            if "Index" in kind and "Index Cond" not in node:
                kind = "Full Index Scan"
            found.append((node["Relation Name"], kind, node.get("Index Name")))
    return found


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("BATCH_COUNTS", {}),
        ("BATCH_FAILED", {"after": None, "limit": 101}),
        ("BATCH_RESULTS", {"after": 5_000, "limit": 100}),
    ],
)
def test_a_batchs_reads_use_its_requests_index(
    many_batches: tuple[Engine, int, int], name: str, params: dict[str, Any]
) -> None:
    engine, batch_id, _ = many_batches
    scans = _scans(engine, getattr(batches_sql, name), batch_id=batch_id, **params)
    requests = [scan for scan in scans if scan[0] == "job_requests"]
    assert requests and all(index == "ix_job_requests_batch_id" for _, _, index in requests), scans
    assert all(kind not in ("Seq Scan", "Full Index Scan") for _, kind, _ in scans), scans
    # Each member job by its key: the primary key, or the (status, id) index of the job
    # lists when the statement filters on a status (an index-only scan there).
    assert any(t == "jobs" and i in ("pk_jobs", "ix_jobs_status_id") for t, _, i in scans), scans


def test_a_jobs_batch_is_found_by_its_requests(many_batches: tuple[Engine, int, int]) -> None:
    engine, _, job_id = many_batches
    scans = _scans(engine, batches_sql.JOB_BATCH, job_id=job_id)
    assert ("job_requests", "Index Scan", "ix_job_requests_job_id") in scans, scans
    assert all(kind != "Seq Scan" or table == "job_batches" for table, kind, _ in scans), scans
