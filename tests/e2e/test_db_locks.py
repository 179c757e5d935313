"""A locked jobs table on the real ``shoal webapi`` (gunicorn, gevent, two processes): job
requests answer 503 with Retry-After past SHOAL_DB_LOCK_TIMEOUT_MS instead of hanging,
/api/health says so, and a client that timed out and retried its submission gets one job."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shared.client import RetryPolicy
from tests.e2e.conftest import StartApi
from tests.e2e.helpers import wait_for
from tests.e2e.test_many_clients import admin_token
from tests.webapi.jobs.test_db_timeouts import HELD_SECONDS, counts, held
from tests.webapi.jobs.test_gone_claimers import _waits_on_a_lock
from webapi.health import JOBS_LOCKED

pytestmark = pytest.mark.slow
LOCK_MS = 2000
JOBS_LOCKED_UP = "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"


def test_a_locked_jobs_table_is_503_unhealthy_and_a_retried_submission_makes_one_job(
    start_api: StartApi, engine: Engine
) -> None:
    live_api = start_api(SHOAL_DB_LOCK_TIMEOUT_MS=LOCK_MS)
    headers = {"Authorization": f"Bearer {admin_token(live_api)}"}
    with live_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
    with httpx.Client(base_url=live_api.url, headers=headers, timeout=30) as http:
        with held(engine, JOBS_LOCKED_UP):
            started = time.monotonic()
            answers = [
                http.post("/api/jobs", json={"type": "TEST", "inputPayload": {"id": 2}}),
                http.get(f"/api/jobs/{job_id}"),
            ]
            took = time.monotonic() - started
            health = http.get("/api/health")
        assert http.get("/api/health").status_code == 200
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        assert "SHOAL_DB_LOCK_TIMEOUT_MS" in answer.json()["message"]
    assert took < HELD_SECONDS / 2  # each gave up after the lock timeout
    assert (health.status_code, health.json()["message"]) == (503, JOBS_LOCKED)
    assert counts(engine) == (1, 1)

    # A client whose first try times out (the table is locked) sends it again, with the
    # same Idempotency-Key: both run once the lock goes, and one job and request result.
    answered: list[dict[str, Any]] = []
    retry = RetryPolicy(attempts=5, base_delay=0.05, max_delay=0.1, total_seconds=30)
    with live_api.client(timeout=0.5, retry=retry) as client:
        client.health()  # logged in before the lock
        with held(engine, JOBS_LOCKED_UP):
            submitting = threading.Thread(
                target=lambda: answered.append(client.submit_job("TEST", {"id": 3}))
            )
            submitting.start()
            wait_for(lambda: _waits_on_a_lock(engine, "idempotency_keys"), 10, "the retry")
        submitting.join(30)
    assert [answer["cached"] for answer in answered] == [False]
    assert counts(engine) == (2, 2)
