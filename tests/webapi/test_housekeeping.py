"""The API's housekeeping: SHOAL_JOB_RETENTION_DAYS prunes finished jobs, hourly; the
background threads end with the app."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.conftest import BACKGROUND_THREADS
from tests.support.queue import make_queue, make_user
from webapi.app import close_app, create_app
from webapi.jobs.housekeeping import PRUNE_EVERY_SECONDS, Housekeeping
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.settings import WebSettings
from webapi.store import webhooks
from webapi.store.queue import Queue


def finished(queue: Queue, engine: Engine, user: int, days_ago: float) -> int:
    """A cancelled job whose end lies ``days_ago`` days back."""
    job = queue.create(user_id=user, job_type="TEST", payload={"id": 1}).job
    queue.cancel(job.id)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET finished_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": days_ago * 86400, "id": job.id},
        )
    return job.id


def job_ids(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM jobs")).scalars())


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_JOB_RETENTION_DAYS": "1", "SHOAL_SWEEP_SECONDS": "0.1"}


def test_the_running_app_prunes_by_its_retention_setting(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    queue = app.extensions[JOBS].queue
    user = make_user(engine)
    old = finished(queue, engine, user, days_ago=2)
    recent = finished(queue, engine, user, days_ago=0.5)
    client.get("/api/health")  # the first request starts the process's housekeeping
    deadline = time.monotonic() + 15
    while old in job_ids(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_ids(engine) == {recent}


def test_pruning_runs_at_most_once_an_hour(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine)
    now = 1000.0
    housekeeping = Housekeeping(queue, sweep_seconds=1, retention_days=1, clock=lambda: now)
    first = finished(queue, engine, user, days_ago=2)
    housekeeping.sweep()
    assert first not in job_ids(engine)  # the first sweep prunes
    second = finished(queue, engine, user, days_ago=2)
    now += PRUNE_EVERY_SECONDS - 1
    housekeeping.sweep()
    assert job_ids(engine) == {second}
    now += 1
    housekeeping.sweep()
    assert job_ids(engine) == set()


def test_without_retention_nothing_is_pruned(engine: Engine) -> None:
    queue = make_queue(engine)
    kept = finished(queue, engine, make_user(engine), days_ago=3650)
    Housekeeping(queue, sweep_seconds=1, retention_days=0).sweep()
    assert job_ids(engine) == {kept}


def test_workers_not_heard_from_for_a_day_are_forgotten_hourly(engine: Engine) -> None:
    now = [0.0]
    housekeeping = Housekeeping(
        make_queue(engine), sweep_seconds=1, retention_days=0, clock=lambda: now[0]
    )

    def add_worker(days_silent: float) -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workers (identity, claimed_at, contact_until) VALUES "
                    "('w' || :d, now() - make_interval(secs => :d * 86400),"
                    " now() - make_interval(secs => :d * 86400))"
                ),
                {"d": days_silent},
            )

    def identities() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT identity FROM workers")).scalars())

    add_worker(2)
    add_worker(0)
    housekeeping.sweep()
    assert identities() == {"w0"}
    add_worker(3)
    now[0] += PRUNE_EVERY_SECONDS / 2
    housekeeping.sweep()  # not an hour yet
    assert identities() == {"w0", "w3"}
    now[0] += PRUNE_EVERY_SECONDS / 2
    housekeeping.sweep()
    assert identities() == {"w0"}


def _background() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name in BACKGROUND_THREADS)


def test_a_closed_app_does_not_start_its_threads_again(web_settings: WebSettings) -> None:
    app = create_app(web_settings)
    client = app.test_client()
    client.get("/api/health")
    assert _background() == sorted(BACKGROUND_THREADS)
    close_app(app)
    assert _background() == []
    client.get("/api/health")  # a request still in flight when the app closed
    assert _background() == []


def _event(engine: Engine, user: int, state: str, settled_days_ago: float) -> int:
    """A job.ended event of a subscription of ``user``'s with one delivery in ``state``
    and one try, created and (unless PENDING) settled ``settled_days_ago`` days back."""
    with engine.begin() as conn:
        hook = conn.execute(
            text(
                "INSERT INTO webhooks (user_id, url, secret, events)"
                " VALUES (:u, 'https://hooks.example.org/', :s, '{job.ended}') RETURNING id"
            ),
            {"u": user, "s": "s" * 16},
        ).scalar_one()
        event = conn.execute(
            text(
                "INSERT INTO webhook_events (kind, subject_id, status, data, created_at)"
                " VALUES ('job.ended', 1, 'SUCCEEDED', '{}',"
                " now() - make_interval(secs => :d * 86400)) RETURNING id"
            ),
            {"d": settled_days_ago},
        ).scalar_one()
        delivery = conn.execute(
            text(
                "INSERT INTO webhook_deliveries (event_id, webhook_id, sequence_key, state,"
                " finished_at) VALUES (:e, :w, 'job:1', :state, CASE WHEN :state <> 'PENDING'"
                " THEN now() - make_interval(secs => :d * 86400) END) RETURNING id"
            ),
            {"e": event, "w": hook, "state": state, "d": settled_days_ago},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms)"
                " VALUES (:id, 200, 5)"
            ),
            {"id": delivery},
        )
    return int(event)


def _webhook_rows(engine: Engine) -> tuple[set[int], int, int]:
    """(event ids, deliveries, attempts) left."""
    with engine.connect() as conn:
        events = set(conn.execute(text("SELECT id FROM webhook_events")).scalars())
        deliveries = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
        attempts = conn.execute(text("SELECT count(*) FROM webhook_attempts")).scalar_one()
    return events, deliveries, attempts


def test_settled_webhook_deliveries_past_their_retention_are_pruned_hourly(
    engine: Engine,
) -> None:
    user = make_user(engine)
    old = [_event(engine, user, state, 31) for state in ("DELIVERED", "FAILED")]
    kept = [
        _event(engine, user, "PENDING", 31),  # still being tried: kept
        _event(engine, user, "DELIVERED", 29),  # within the 30 days
    ]
    assert set(old) <= _webhook_rows(engine)[0]
    Housekeeping(make_queue(engine), sweep_seconds=1, retention_days=0).sweep()
    assert _webhook_rows(engine) == (set(kept), 2, 2)


def test_webhook_retention_deletes_in_bounded_batches(engine: Engine) -> None:
    user = make_user(engine)
    for _ in range(5):
        _event(engine, user, "DELIVERED", 3)
    assert webhooks.prune(engine, 2 * 86400, batch=2) == 5
    assert _webhook_rows(engine) == (set(), 0, 0)
