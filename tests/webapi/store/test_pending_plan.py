"""Why a PENDING job waits is one statement that stays on indexes in a big queue: the
jobs ahead are counted on the claim's partial index, never by a scan of ``jobs``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.support import database
from tests.support.queue import bulk_jobs, make_user
from webapi.store.engine import make_engine
from webapi.store.records import JobRecord
from webapi.store.sql.pending import PENDING_FACTS


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


@pytest.fixture(scope="module")
def big_queue(pg_server: URL) -> Iterator[Engine]:
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            user = make_user(engine)
            bulk_jobs(engine, user, 200_000, status="SUCCEEDED")
            bulk_jobs(engine, user, 20_000)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE jobs"))
            yield engine
        finally:
            engine.dispose()


def test_the_jobs_ahead_are_counted_on_the_pending_index(big_queue: Engine) -> None:
    with big_queue.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM jobs WHERE status = 'PENDING' ORDER BY id DESC LIMIT 1")
        )
        job = JobRecord.from_row(row.mappings().one())
        params = {
            "type": job.type,
            "created_at": job.created_at,
            "id": job.id,
            "user_id": job.user_id,
            "bound": 1001,
            "fleet": "fleet",
            "local": "local",
        }
        [[found]] = conn.execute(text(f"EXPLAIN (FORMAT JSON) {PENDING_FACTS}"), params)
        counted = conn.execute(text(PENDING_FACTS), params).mappings().one()["ahead"]
    scans = [
        (n["Node Type"], n.get("Index Name"))
        for n in _nodes(found[0]["Plan"])
        if n.get("Relation Name") == "jobs"
    ]
    assert scans and all(name == "ix_jobs_pending_type_created" for _, name in scans), scans
    assert counted == 1001  # stopped at the bound, of 19,999 ahead
