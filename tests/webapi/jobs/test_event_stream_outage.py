"""Event streams through a PostgreSQL restart: they wait for the database, and end with
``event: error`` and ``retry:`` only when it stays away too long.

The app runs on a PostgreSQL server of the test's own, stopped and started for real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask

from shared.client import ApiError, ApiUnavailable, ShoalClient
from shoal_cli.follow import follow_job
from tests.webapi.conftest import PASSWORD
from tests.webapi.jobs.sse import RawStream
from webapi.events import follow, hub
from webapi.jobs.runtime import EXTENSION
from webapi.store.embedded_pg import EmbeddedPostgres

pytestmark = pytest.mark.slow

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
WAITING = "event stream waits for the database"


@pytest.fixture
def web_env(web_env: dict[str, str], private_server: tuple[EmbeddedPostgres, str]) -> dict:
    # A lease longer than the outage: the job's only status changes are the test's own.
    overrides = '{"TEST": {"leaseSeconds": 300}}'
    return {**web_env, "DATABASE_URL": private_server[1], "SHOAL_JOB_OVERRIDES": overrides}


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def _met_the_outage(caplog: pytest.LogCaptureFixture, stream: RawStream) -> bool:
    """The stream tried to read without a database: it waits (logged), or it died."""
    return stream.closed.is_set() or any(WAITING in r.getMessage() for r in caplog.records)


def test_a_stream_and_the_cli_see_every_status_change_through_a_database_restart(
    app: Flask,
    live_url: str,
    client,
    analyst,
    worker,
    submit,
    private_server: tuple[EmbeddedPostgres, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, _ = private_server
    job_id = submit({"id": 1})
    stream = RawStream(f"{live_url}/api/jobs/{job_id}/events", analyst.headers)
    assert stream.next()[1]["status"] == "PENDING"
    statuses: list[str] = []  # what the shoal command's follower shows
    cli = threading.Thread(target=_cli_follow, args=(live_url, job_id, statuses), daemon=True)
    cli.start()
    _until(lambda: statuses == ["PENDING"], "the CLI follows")
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    assert stream.next()[1]["status"] == "IN_PROGRESS"

    server.stop("fast")
    _until(lambda: _met_the_outage(caplog, stream), "the stream read during the outage")
    server.start()
    _until(app.extensions[EXTENSION].hub.connected.is_set, "the listener is back")

    attempt = f"/api/jobs/assignments/{claimed['assignment']['id']}"
    client.post(f"{attempt}/heartbeat", json={"progress": 0.5}, headers=worker.headers)
    kind, job = stream.next()
    assert (kind, job["status"], job["progress"]) == ("progress", "IN_PROGRESS", 0.5)
    finished = {"status": "SUCCEEDED", "resultPayload": {}}
    client.post(f"{attempt}/result", json=finished, headers=worker.headers)
    # One connection from PENDING to SUCCEEDED: not cut, no error event.
    assert [(kind, job["status"]) for kind, job in stream.rest()] == [("status", "SUCCEEDED")]  # type: ignore[index]
    cli.join(timeout=30)
    assert statuses == ["PENDING", "IN_PROGRESS", "SUCCEEDED"]
    assert not _tracebacks(caplog)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


def _cli_follow(url: str, job_id: int, statuses: list[str]) -> None:
    """``shoal jobs watch``'s follower: each status it shows once, or why it gave up."""

    def shown(kind: str, job: dict) -> None:
        if not statuses or statuses[-1] != job["status"]:
            statuses.append(job["status"])

    with ShoalClient(url, email="analyst@example.org", password=PASSWORD) as shoal:
        try:
            follow_job(shoal, job_id, shown)
        except (ApiError, ApiUnavailable) as error:
            statuses.append(f"gave up: {error}")


def test_a_stream_ends_with_an_error_and_a_retry_when_the_database_stays_away(
    live_url: str,
    analyst,
    submit,
    private_server: tuple[EmbeddedPostgres, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follow, "OUTAGE_SECONDS", 0.0)  # "too long" is any time at all
    job_id = submit({"id": 1})
    stream = RawStream(f"{live_url}/api/jobs/{job_id}/events", analyst.headers)
    assert stream.next()[0] == "status"
    private_server[0].stop("fast")
    assert stream.rest() == [("error", {"status": 503, "message": follow.DATABASE_AWAY})]
    assert stream.lines[-4:-1] == [
        "event: error",
        f"retry: {follow.RETRY_MILLISECONDS}",
        f'data: {{"status": 503, "message": "{follow.DATABASE_AWAY}"}}',
    ]
    assert not _tracebacks(caplog)


def test_the_listener_wakes_its_streams_once_for_an_outage_and_once_when_back(
    app: Flask,
    submit,
    private_server: tuple[EmbeddedPostgres, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its failed tries in between (every RECONNECT_SECONDS, so that it is back soon after
    the database) wake nobody: each woken stream reads, and each woken claimer claims."""
    caplog.set_level(logging.DEBUG, logger=hub.__name__)
    job_id = submit({"id": 1})
    listener = app.extensions[EXTENSION].hub
    listener.ensure_started()
    _until(listener.connected.is_set, "the listener connects")
    with listener.follow(job_id) as subscription:
        private_server[0].stop("fast")
        _until(lambda: _logged(caplog, "still away") >= 3, "three failed tries")
        private_server[0].start()
        _until(listener.connected.is_set, "the listener is back")
        events = iter(lambda: subscription.get(0), None)
        woken = [event.event for event in events if event.event == "resync"]
    assert woken == ["resync", "resync"]  # the loss, the reconnect
    assert _logged(caplog, "lost its connection") == 1


def _logged(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in record.getMessage() for record in caplog.records)
