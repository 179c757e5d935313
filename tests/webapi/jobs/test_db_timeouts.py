"""A locked table or a stuck statement fails requests with 503 and Retry-After
(SHOAL_DB_LOCK_TIMEOUT_MS, SHOAL_DB_STATEMENT_TIMEOUT_MS) instead of hanging them, and
/api/health says so (Flask's test client; through gunicorn in tests/e2e/test_db_locks.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.e2e.helpers import wait_for
from webapi.health import JOBS_LOCKED

LOCK = {"SHOAL_DB_LOCK_TIMEOUT_MS": "300", "SHOAL_DB_STATEMENT_TIMEOUT_MS": "0"}
STATEMENT = {"SHOAL_DB_LOCK_TIMEOUT_MS": "0", "SHOAL_DB_STATEMENT_TIMEOUT_MS": "300"}
HELD_SECONDS = 10  # how long a lock is held at most: what a request without timeouts waits


@pytest.fixture
def timeouts(request: pytest.FixtureRequest) -> dict[str, str]:
    return getattr(request, "param", LOCK)


@pytest.fixture
def web_env(web_env: dict[str, str], timeouts: dict[str, str]) -> dict[str, str]:
    return {**web_env, **timeouts}


@contextmanager
def held(engine: Engine, statement: str) -> Iterator[None]:
    """``statement`` (a lock) held by another connection during the block, at most
    ``HELD_SECONDS``."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.connect() as conn:
            conn.execute(text(statement))
            taken.set()
            release.wait(HELD_SECONDS)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(10)
        yield
    finally:
        release.set()
        holder.join(HELD_SECONDS + 5)


def counts(engine: Engine) -> tuple[int, int]:
    """(jobs, job requests)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_requests)")
        ).one()
    return row[0], row[1]


@pytest.mark.parametrize(
    ("timeouts", "setting"),
    [(LOCK, "SHOAL_DB_LOCK_TIMEOUT_MS"), (STATEMENT, "SHOAL_DB_STATEMENT_TIMEOUT_MS")],
    indirect=["timeouts"],
)
def test_a_locked_jobs_table_is_503_with_retry_after_and_unhealthy(
    client, analyst, submit, engine, setting
) -> None:
    job_id = submit({"id": 1})
    with held(engine, "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"):
        started = time.monotonic()
        answers = [
            client.post(
                "/api/jobs",
                json={"type": "TEST", "inputPayload": {"id": 2}},
                headers=analyst.headers,
            ),
            client.get(f"/api/jobs/{job_id}", headers=analyst.headers),
        ]
        took = time.monotonic() - started
        health = client.get("/api/health")
    for answer in answers:
        assert answer.status_code == 503, answer.json
        assert answer.headers["Retry-After"] == "1"
        assert setting in answer.json["message"] and "retrying is safe" in answer.json["message"]
    assert took < HELD_SECONDS / 2  # they gave up; they did not wait for the lock
    assert (health.status_code, health.json["message"]) == (503, JOBS_LOCKED)
    assert counts(engine) == (1, 1)  # the refused submission created nothing
    assert client.get("/api/health").status_code == 200


def test_the_timeouts_are_those_of_every_connection(services) -> None:
    with services.engine.connect() as conn:
        found = conn.execute(
            text("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        ).one()
    assert tuple(found) == ("300ms", "0")


def test_health_needs_only_the_job_tables_write_lock(client, engine) -> None:
    """A reader's lock (a backup, say) leaves it healthy; a lock against writes does not."""
    with held(engine, "LOCK TABLE jobs IN ACCESS SHARE MODE"):
        assert client.get("/api/health").status_code == 200
    with held(engine, "LOCK TABLE job_assignments IN SHARE MODE"):
        assert client.get("/api/health").json == {"status": "unavailable", "message": JOBS_LOCKED}


@pytest.mark.parametrize("timeouts", [STATEMENT], indirect=True)
def test_a_batch_may_run_longer_than_a_request(live_url, analyst, engine) -> None:
    """A batch's writes (10,000 inputs: 20,000 rows in one statement) run under a minute
    at least, whatever the requests' statement timeout: here one waits on a lock for
    three times that timeout, and the batch is still created."""
    answers: list[httpx.Response] = []
    body = {"type": "TEST", "inputs": [{"id": n} for n in range(3)]}
    with held(engine, "LOCK TABLE job_batches IN SHARE MODE"):
        sending = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{live_url}/api/jobs/batch", json=body, headers=analyst.headers)
            )
        )
        sending.start()
        wait_for(lambda: _waiting_longer_than(engine, 0.9) or answers, 10, "the batch to wait")
    sending.join(10)
    assert answers[0].status_code == 201, answers[0].json()
    assert counts(engine) == (3, 3)


def _waiting_longer_than(engine: Engine, seconds: float) -> bool:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query ~ 'INSERT INTO job_batches' AND now() - query_start > :s"
                " * interval '1 second'"
            ),
            {"s": seconds},
        ).scalar_one()
