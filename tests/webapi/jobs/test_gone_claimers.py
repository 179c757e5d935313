"""Claims whose client has gone take no job, and an answer that cannot be delivered is
undone with no attempt spent (over a real threaded HTTP server, ``live_url``; the same
through gunicorn in tests/e2e/test_ghost_claims.py)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import Engine, text
from werkzeug.test import EnvironBuilder

from tests.e2e.helpers import wait_for
from tests.support.metrics import sample, wait_for_sample
from webapi.events.waiters import ClaimWaiters, Wake

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
GONE_METRIC = "shoal_claims_for_gone_clients_total"
CLAIMING = "^(PREPARE|EXECUTE) shoal_(fair_)?claim_"  # a claim's statement in pg_stat_activity


def _metrics(live_url: str) -> str:
    return httpx.get(f"{live_url}/metrics").text


def _gone(live_url: str, stage: str) -> float:
    return sample(_metrics(live_url), GONE_METRIC, {"stage": stage}) or 0.0


def _raw_claim(live_url: str, headers: dict[str, str], wait_seconds: int) -> socket.socket:
    """A claim sent on a socket of its own, whose answer is never read."""
    url = urlparse(live_url)
    body = json.dumps(CLAIM | {"waitSeconds": wait_seconds}).encode()
    head = [
        "POST /api/jobs/claim HTTP/1.1",
        "Host: test",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def _assignments(engine: Engine, job_id: int) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT attempt, storage_uri FROM job_assignments WHERE job_id = :id ORDER BY id"),
            {"id": job_id},
        )
        return [(row.attempt, row.storage_uri) for row in rows]


def _job_row(engine: Engine, job_id: int) -> tuple[str, int, object]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, attempts, started_at FROM jobs WHERE id = :id"), {"id": job_id}
        ).one()
        return row.status, row.attempts, row.started_at


def _claimed_by_a_live_worker(client, worker, engine: Engine, job_id: int) -> None:
    """The job, back in the queue, goes to the next claim as its first attempt."""
    answer = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers)
    assert answer.status_code == 200 and answer.json["job"]["id"] == job_id
    assert answer.json["job"]["attempts"] == 1
    [(attempt, uri)] = _assignments(engine, job_id)
    assert attempt == 1 and uri.endswith(f"/{job_id}/attempt-1")


def test_a_waiting_claim_whose_client_left_takes_no_job(
    live_url, client, worker, submit, services
) -> None:
    sock = _raw_claim(live_url, worker.headers, 20)
    wait_for_sample(lambda: _metrics(live_url), "shoal_waiting_claims", 1)
    sock.close()
    job_id = submit({"id": 1})
    # The job's notification wakes the claimer, which is found gone and ends.
    wait_for_sample(lambda: _metrics(live_url), "shoal_waiting_claims", 0)
    assert (_gone(live_url, "skipped"), _gone(live_url, "undone")) == (1, 0)
    assert _job_row(services.engine, job_id) == ("PENDING", 0, None)
    assert _assignments(services.engine, job_id) == []
    _claimed_by_a_live_worker(client, worker, services.engine, job_id)


@contextmanager
def _locked(engine: Engine, table: str, mode: str) -> Iterator[None]:
    """``table`` locked in ``mode`` by another connection while the block runs."""
    with engine.connect() as conn:
        conn.execute(text(f"LOCK TABLE {table} IN {mode} MODE"))
        yield
        conn.commit()


def _waits_on_a_lock(engine: Engine, query: str) -> bool:
    """Whether one statement matching ``query`` (a regular expression) waits on a lock."""
    with engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query ~ :query"
            ),
            {"query": query},
        ).scalar_one()
    return waiting == 1


@pytest.mark.parametrize("wait_seconds", [0, 10])
def test_a_claim_whose_client_left_before_it_was_served_takes_no_job(
    live_url, client, worker, submit, services, engine, wait_seconds
) -> None:
    job_id = submit({"id": 4})
    with _locked(engine, "api_keys", "ACCESS EXCLUSIVE"):  # the claim waits to authenticate
        sock = _raw_claim(live_url, worker.headers, wait_seconds)
        wait_for(lambda: _waits_on_a_lock(engine, "api_keys"), 10, "the claim to wait")
        sock.close()
    wait_for(lambda: _gone(live_url, "skipped") == 1, 10, "the claim to end")
    assert _gone(live_url, "undone") == 0
    assert _job_row(services.engine, job_id) == ("PENDING", 0, None)
    _claimed_by_a_live_worker(client, worker, services.engine, job_id)


def test_a_claim_whose_client_left_while_it_was_taken_is_undone(
    live_url, client, worker, submit, services, engine, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="webapi.jobs.worker_routes")
    job_id = submit({"id": 2})
    with _locked(engine, "job_assignments", "SHARE"):  # the claim waits to write
        sock = _raw_claim(live_url, worker.headers, 0)
        wait_for(lambda: _waits_on_a_lock(engine, CLAIMING), 10, "the claim to wait")
        sock.close()  # while its job is being claimed
    wait_for(lambda: _gone(live_url, "undone") == 1, 10, "the claim to be undone")
    assert _gone(live_url, "skipped") == 0
    # Found gone before its answer was written (not only when the write failed).
    undone = [r.getMessage() for r in caplog.records if r.__dict__.get("action") == "claim_undone"]
    assert undone == ["claim undone: client gone"]
    assert _job_row(services.engine, job_id) == ("PENDING", 0, None)
    assert _assignments(services.engine, job_id) == []
    with engine.connect() as conn:  # the next attempt-1 writes where this one would have
        queued = conn.execute(text("SELECT count(*) FROM storage_deletions")).scalar_one()
    assert queued == 0
    _claimed_by_a_live_worker(client, worker, services.engine, job_id)


def test_an_answer_the_server_could_not_write_is_undone(
    app, client, worker, submit, services
) -> None:
    """The WSGI contract: a server that fails to write the body closes it un-iterated."""
    job_id = submit({"id": 3})
    environ = EnvironBuilder(
        path="/api/jobs/claim", method="POST", json=CLAIM, headers=worker.headers
    ).get_environ()
    statuses: list[str] = []
    body = app.wsgi_app(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]
    [chunk] = [next(iter(body))]  # handed to the server, whose write then fails
    assert json.loads(chunk)["job"]["id"] == job_id
    assert _job_row(services.engine, job_id)[0] == "IN_PROGRESS"
    body.close()
    assert _job_row(services.engine, job_id) == ("PENDING", 0, None)
    _claimed_by_a_live_worker(client, worker, services.engine, job_id)


@pytest.mark.parametrize("max_jobs", [1, 3])
def test_a_delivered_answer_is_kept(live_url, worker, submit, services, max_jobs) -> None:
    job_ids = [submit({"id": n}) for n in range(max_jobs)]
    with httpx.Client(timeout=30) as http:
        answer = http.post(
            f"{live_url}/api/jobs/claim",
            json=CLAIM | {"maxJobs": max_jobs},
            headers=worker.headers,
        )
    assert answer.status_code == 200
    assert answer.headers["Content-Length"] == str(len(answer.content))
    body = answer.json()
    claimed = [body["job"]] if max_jobs == 1 else [c["job"] for c in body["claims"]]
    assert sorted(job["id"] for job in claimed) == job_ids
    assert [_job_row(services.engine, j)[:2] for j in job_ids] == [("IN_PROGRESS", 1)] * max_jobs
    assert _gone(live_url, "undone") == 0


def test_a_wake_passes_over_claimers_that_are_gone() -> None:
    claimers = ClaimWaiters()
    left, there = object(), object()
    with (
        claimers.register(frozenset({"TEST"}), left, 1, gone=lambda: True) as gone_one,
        claimers.register(frozenset({"TEST"}), there, 1) as live_one,
    ):
        assert gone_one is not None and live_one is not None
        claimers.queue(gone_one)
        claimers.queue(live_one)
        assert claimers.wake("TEST", job_id=7) == 1
        assert (gone_one.take_wake(), live_one.take_wake()) == (Wake.GONE, Wake.JOB)
        assert live_one.woken_by == 7
