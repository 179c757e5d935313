"""``Idempotency-Key`` on ``POST /api/jobs`` and ``POST /api/jobs/batch``: a retry gets
the first answer and creates nothing; the same key for another request is 409."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from shared.client import RetryPolicy, ShoalClient
from tests.e2e.helpers import wait_for
from tests.webapi.jobs.test_db_timeouts import counts, held
from tests.webapi.jobs.test_gone_claimers import _waits_on_a_lock
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.store.queue import Queue

JOB = {"type": "TEST", "inputPayload": {"id": 1}}
BATCH = {"type": "TEST", "inputs": [{"id": 1}, {"id": 2}, {"id": 1}]}


def _key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": name}


def _rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_retried_submission_gets_the_first_answer_and_creates_nothing(
    client, analyst, engine
) -> None:
    headers = analyst.headers | _key("4b0ad1f0-retry")
    first = client.post("/api/jobs", json=JOB, headers=headers)
    again = client.post("/api/jobs", json=JOB, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json == first.json == {"jobId": 1, "cached": False, "requestId": 1}
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert counts(engine) == (1, 1)
    # Without the key, the same input is a new request, answered by the cache.
    plain = client.post("/api/jobs", json=JOB, headers=analyst.headers)
    assert plain.json == {"jobId": 1, "cached": True, "requestId": 2}


def test_the_same_key_for_another_request_is_409_and_creates_nothing(
    client, analyst, engine
) -> None:
    headers = analyst.headers | _key("k1")
    assert client.post("/api/jobs", json=JOB, headers=headers).status_code == 200
    for other in (
        client.post("/api/jobs", json=JOB | {"inputPayload": {"id": 2}}, headers=headers),
        client.post("/api/jobs", json=JOB | {"priority": 5}, headers=headers),
        client.post("/api/jobs/batch", json=BATCH, headers=headers),
    ):
        assert other.status_code == 409, other.json
        assert other.json["message"].startswith("Idempotency-Key 'k1' was used for a different")
        assert other.json["errors"] == {"Idempotency-Key": ["Used for a different request."]}
    assert counts(engine) == (1, 1)
    assert _rows(engine, "job_batches") == 0


def test_keys_belong_to_their_user(client, analyst, make_user, auth_headers, engine) -> None:
    other = auth_headers(make_user("other@example.org", ("ANALYST",))[1])
    mine = client.post("/api/jobs", json=JOB, headers=analyst.headers | _key("shared"))
    theirs = client.post("/api/jobs", json=JOB, headers=other | _key("shared"))
    assert (mine.json["requestId"], theirs.json["requestId"]) == (1, 2)
    assert "Idempotent-Replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["", "a key", "ключ", "x" * 256, "tab\there"])
def test_a_malformed_key_is_400_naming_the_header(client, analyst, engine, key) -> None:
    answer = client.post("/api/jobs", json=JOB, headers=analyst.headers | _key(key))
    assert answer.status_code == 400
    assert answer.json["message"].startswith("Idempotency-Key must be 1 to 255 visible ASCII")
    assert counts(engine) == (0, 0)


def test_a_retried_batch_gets_the_first_answer(client, analyst, engine) -> None:
    headers = analyst.headers | _key("sweep-1")
    first = client.post("/api/jobs/batch", json=BATCH, headers=headers)
    again = client.post("/api/jobs/batch", json=BATCH, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert first.json["jobIds"] == [1, 2, 1] and first.json["cached"] == [False, False, True]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (_rows(engine, "job_batches"), *counts(engine)) == (1, 2, 3)


def test_a_refused_submission_leaves_its_key_free(client, analyst, engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET max_pending = 0 WHERE id = :id"), {"id": analyst.user_id}
        )
    headers = analyst.headers | _key("quota")
    assert client.post("/api/jobs", json=JOB, headers=headers).status_code == 429
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET max_pending = NULL"))
    answer = client.post("/api/jobs", json=JOB, headers=headers)
    assert answer.status_code == 200 and "Idempotent-Replayed" not in answer.headers


def test_a_key_lasts_a_day(client, analyst, engine, app) -> None:
    headers = analyst.headers | _key("daily")
    client.post("/api/jobs", json=JOB, headers=headers)
    client.post("/api/jobs", json=JOB, headers=analyst.headers | _key("fresh"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                " WHERE key = 'daily'"
            )
        )
    # Past the day it answers nothing: another request may take it over.
    other = client.post("/api/jobs", json=JOB | {"inputPayload": {"id": 2}}, headers=headers)
    assert other.status_code == 200 and other.json["jobId"] == 2
    with engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '2 days'"))
    queue: Queue = app.extensions[JOBS].queue
    assert queue.forget_idempotency_keys() == 2
    assert _rows(engine, "idempotency_keys") == 0


def test_a_retry_while_the_first_try_waits_creates_one_job(
    live_url, api_key, analyst, engine
) -> None:
    """The client gives up on its first try (the jobs table is locked) and sends it again;
    the server finishes both once the lock goes: one job, one request, one answer."""
    key = api_key(("ANALYST",), owner_id=analyst.user_id).key
    answers: list[dict[str, object]] = []
    retry = RetryPolicy(attempts=5, base_delay=0.05, max_delay=0.1, total_seconds=30)
    with ShoalClient(live_url, api_key=key, timeout=0.5, retry=retry) as client:
        with held(engine, "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"):
            submitting = threading.Thread(
                target=lambda: answers.append(client.submit_job("TEST", {"id": 7}))
            )
            submitting.start()
            # The first try waits on the lock; the retry on the first one's key.
            wait_for(lambda: _waits_on_a_lock(engine, "idempotency_keys"), 10, "the retry")
        submitting.join(30)
    assert answers == [{"jobId": 1, "cached": False, "requestId": 1}]
    assert counts(engine) == (1, 1)
