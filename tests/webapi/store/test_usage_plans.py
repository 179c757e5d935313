"""The usage reports read the rollup by index, never the attempts: a year of hours for 40
users (350,000 rollup rows, folded by the housekeeping's compaction up to today) and
200,000 attempts, planned (EXPLAIN)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.support import database
from tests.support.queue import bulk_jobs, make_user
from webapi.store import usage
from webapi.store.engine import make_engine
from webapi.store.sql import usage as sql

USERS = 40
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
YEAR_START = NOW - timedelta(days=365)
MONTH = (NOW - timedelta(days=30), NOW)
YEAR = (YEAR_START, NOW + timedelta(hours=1))
ROLLUP = ("usage_hours", "usage_months", "usage_user_days")


@pytest.fixture(scope="module")
def filled(pg_server: URL) -> Iterator[tuple[Engine, int]]:
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            user = make_user(engine)
            bulk_jobs(engine, user, 200_000, status="SUCCEEDED")
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO job_assignments (job_id, attempt, ecs_task_arn,"
                        " ecs_cluster_arn, expires_at, storage_scheme, storage_uri,"
                        " completed_at, outcome)"
                        " SELECT id, 1, 't', 'c', now(), 'LOCAL', 'file:///x', now(), 'SUCCEEDED'"
                        " FROM jobs"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO usage_hours (hour, user_id, type, batch_id, capacity,"
                        " stripe, attempts, run_seconds, vcpu_seconds, gb_seconds)"
                        " SELECT :start + h * interval '1 hour', u, 'TEST', u % 7, 'on_demand',"
                        " 0, 1, 10, 10, 20"
                        " FROM generate_series(0, 8759) h, generate_series(1, :users) u"
                    ),
                    {"start": YEAR_START, "users": USERS},
                )
                usage.compact(conn)
                conn.execute(text("ANALYZE"))
            yield engine, user
        finally:
            engine.dispose()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _scans(engine: Engine, statement: str, **params: Any) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        [[answer]] = conn.execute(text("EXPLAIN (FORMAT JSON) " + statement), params).all()
    return [
        (n["Node Type"], n["Relation Name"], n.get("Index Name"))
        for n in _nodes(answer[0]["Plan"])
        if "Relation Name" in n
    ]


def _report_scans(engine: Engine, by: str, period: tuple[datetime, datetime], user: int | None):
    since, until = period
    m_from, m_to = usage._whole_months(since, until)
    params = {"since": since, "until": until, "m_from": m_from, "m_to": m_to, "user_id": user}
    return _scans(engine, sql.REPORTS[(by, user is not None)], **params)


@pytest.mark.parametrize("by", sql.BY)
@pytest.mark.parametrize("period", [MONTH, YEAR], ids=["month", "year"])
def test_one_users_report_reads_their_rollup_rows_by_index(
    filled: tuple[Engine, int], by: str, period: tuple[datetime, datetime]
) -> None:
    engine, _ = filled
    scans = _report_scans(engine, by, period, 7)
    assert [scan for scan in scans if scan[1] in ROLLUP], scans
    assert all(kind != "Seq Scan" for kind, table, _ in scans if table in ROLLUP), scans
    assert not [scan for scan in scans if scan[1] in ("job_assignments", "jobs")], scans


@pytest.mark.parametrize("by", sql.BY)
@pytest.mark.parametrize("period", [MONTH, YEAR], ids=["month", "year"])
def test_everyones_report_reads_the_rollup_by_its_time(
    filled: tuple[Engine, int], by: str, period: tuple[datetime, datetime]
) -> None:
    """The hours are read by index (a range of them); a year's months or days may be read
    whole, as they are all wanted (12 or 365 rows per user and key)."""
    engine, _ = filled
    scans = _report_scans(engine, by, period, None)
    assert all(kind != "Seq Scan" for kind, table, _ in scans if table == "usage_hours"), scans
    if period == MONTH:
        assert all(kind != "Seq Scan" for kind, table, _ in scans if table in ROLLUP), scans
    assert not [scan for scan in scans if scan[1] in ("job_assignments", "jobs")], scans


def test_spending_reads_the_rollup_by_index_and_only_running_jobs(
    filled: tuple[Engine, int],
) -> None:
    engine, user = filled
    scans = _scans(engine, sql.SPENT, user_id=user, since=MONTH[0])
    # The price table (a row per region and capacity) is read whole; nothing else is.
    assert not [scan for scan in scans if scan[0] == "Seq Scan" and scan[1] != "prices"], scans
    assert ("Index Scan", "usage_hours", "ix_usage_hours_user_id_hour") in scans or (
        "Bitmap Heap Scan",
        "usage_hours",
        None,
    ) in scans, scans


def test_the_estimate_reads_a_types_latest_succeeded_jobs_by_index(
    filled: tuple[Engine, int],
) -> None:
    engine, _ = filled
    scans = _scans(engine, sql.RECENT_RUN_TIME, type="TEST", sample=100)
    assert ("Index Scan", "jobs", "ix_jobs_succeeded_type_finished_at") in scans or (
        "Index Only Scan",
        "jobs",
        "ix_jobs_succeeded_type_finished_at",
    ) in scans, scans
    assert not [scan for scan in scans if scan[0] == "Seq Scan"], scans
