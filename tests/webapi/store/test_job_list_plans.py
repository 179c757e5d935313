"""The job lists' statements read their indexes, never the whole jobs table.

Planned with the values the API sends (psycopg2 sends them inline, so each is a custom
plan) over 200,000 jobs of 20 users (tests/support/job_lists.py), first page and next.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from shared.enums import JobStatus
from tests.support import database
from tests.support.job_lists import fill
from webapi.store.engine import make_engine
from webapi.store.job_lists import JobFilters, JobLists, JobSort, statements

JOBS = 200_000


@pytest.fixture(scope="module")
def listed(pg_server: URL) -> Iterator[tuple[Engine, dict[int, int]]]:
    with database.fresh_database(pg_server) as url:
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
        try:
            yield engine, fill(engine, JOBS)
        finally:
            engine.dispose()


def _scans(plan: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    found = []
    if "Scan" in plan["Node Type"]:
        found.append((plan.get("Relation Name", ""), plan["Node Type"], plan.get("Index Name")))
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


def _plan(engine: Engine, statement: str, params: dict[str, Any]) -> list[tuple[str, str, Any]]:
    with engine.connect() as conn:
        [plan] = conn.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params).scalar_one()
    return _scans(plan["Plan"])


# (what, filters for users {n: id}, sort, the indexes the page must read). A pair: one of
# the two; over everyone's jobs PostgreSQL may walk the newest (pk_jobs) and filter,
# where they match often enough to fill a page soon. One user's jobs never: user 1 has
# 30% of them, and is read from the per-user index all the same.
CASES: list[tuple[str, Any, JobSort, set[str]]] = [
    ("mine", lambda u: JobFilters(u[1]), JobSort(), {"ix_jobs_user_id_id"}),
    (
        "mine, reused",
        lambda u: JobFilters(u[2]),
        JobSort(),
        {"ix_jobs_user_id_id", "ix_job_requests_reused"},
    ),
    (
        "mine, status",
        lambda u: JobFilters(u[3], statuses=(JobStatus.CANCELLED,)),
        JobSort(),
        {"ix_jobs_user_status_id"},
    ),
    ("mine, type", lambda u: JobFilters(u[3], type="HEAT"), JobSort(), {"ix_jobs_user_type_id"}),
    (
        "mine, batch",
        lambda u: JobFilters(u[3], batch=u[3]),
        JobSort(),
        {"ix_job_requests_batch_id"},
    ),
    (
        "mine, name prefix",
        lambda u: JobFilters(u[3], name="run-12"),
        JobSort(),
        {"ix_jobs_user_name_id"},
    ),
    ("mine, by name", lambda u: JobFilters(u[3]), JobSort("name", False), {"ix_jobs_user_name_id"}),
    ("mine, by status", lambda u: JobFilters(u[3]), JobSort("status"), {"ix_jobs_user_status_id"}),
    ("mine, by type", lambda u: JobFilters(u[3]), JobSort("type"), {"ix_jobs_user_type_id"}),
    (
        "mine, by runtime",
        lambda u: JobFilters(u[3]),
        JobSort("runtime"),
        {"ix_jobs_user_runtime_id"},
    ),
    ("all", lambda u: JobFilters(None), JobSort(), {"pk_jobs"}),
    (
        "all, status",
        lambda u: JobFilters(None, statuses=(JobStatus.FAILED,)),
        JobSort(),
        {("ix_jobs_status_id", "pk_jobs")},
    ),
    ("all, tag", lambda u: JobFilters(None, tags={"site": "s4"}), JobSort(), set()),
    (
        "all, name prefix",
        lambda u: JobFilters(None, name="run-12"),
        JobSort(),
        {("ix_jobs_name_id", "pk_jobs")},
    ),
    ("all, by runtime", lambda u: JobFilters(None), JobSort("runtime"), {"ix_jobs_runtime_id"}),
    ("all, by name", lambda u: JobFilters(None), JobSort("name", False), {"ix_jobs_name_id"}),
    (
        "one user, type",
        lambda u: JobFilters(None, owner=u[4], type="CELLS"),
        JobSort(),
        {"ix_jobs_user_type_id"},
    ),
]


@pytest.mark.parametrize("next_page", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize(("what", "filters", "sort", "indexes"), CASES, ids=[c[0] for c in CASES])
def test_a_page_reads_its_index(listed, what, filters, sort, indexes, next_page) -> None:
    engine, users = listed
    given = filters(users)
    cursor = JobLists(engine).page(given, sort, limit=100).next_cursor if next_page else None
    assert not next_page or cursor is not None
    page, counting, params = statements(given, sort, limit=100, cursor=cursor)
    scans = _plan(engine, page, params)
    assert not [s for s in scans if s[1] == "Seq Scan"], scans
    read = {s[2] for s in scans}
    for index in indexes:
        assert read & set(index if isinstance(index, tuple) else (index,)), scans
    # Unfiltered, the count may read the table: it stops at the cap.
    if given.params():
        counted = _plan(engine, counting, params)
        assert not [s for s in counted if s[1] == "Seq Scan"], counted


# A time range of one user's jobs, newest first: the jobs outside it are skipped in the
# index that carries created_at (an index-only scan), not read from the table.
TIME_RANGES = {
    "mine, until": lambda u: JobFilters(u[1], until=datetime.now(UTC) - timedelta(days=1)),
    "mine, since": lambda u: JobFilters(u[3], since=datetime.now(UTC) - timedelta(days=1)),
    "one user, until": lambda u: JobFilters(
        None, owner=u[4], until=datetime.now(UTC) - timedelta(days=1)
    ),
}


@pytest.mark.parametrize("next_page", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize("what", TIME_RANGES)
def test_a_time_range_skips_in_the_index(listed, what, next_page) -> None:
    engine, users = listed
    given = TIME_RANGES[what](users)
    cursor = JobLists(engine).page(given, JobSort(), limit=100).next_cursor if next_page else None
    assert not next_page or cursor is not None
    page, _counting, params = statements(given, JobSort(), limit=100, cursor=cursor)
    scans = _plan(engine, page, params)
    assert ("jobs", "Index Only Scan", "ix_jobs_user_id_id") in scans, scans
    assert not [s for s in scans if s[1] == "Seq Scan"], scans
