"""The web API stops quickly with long polls in flight: SIGTERM wakes every waiting claim."""

from __future__ import annotations

import threading
import time

import httpx
import psutil
import pytest

from tests.e2e.conftest import LiveApi

pytestmark = pytest.mark.slow


def test_sigterm_answers_waiting_claims_at_once(live_api: LiveApi) -> None:
    master = psutil.Process(live_api.pid)
    answers: list[tuple[int, float]] = []

    def long_poll() -> None:
        started = time.monotonic()
        answer = httpx.post(
            f"{live_api.url}/api/jobs/claim",
            json={"jobTypes": ["TEST"], "ecsTaskArn": "t", "ecsClusterArn": "c", "waitSeconds": 20},
            headers={"X-API-Key": live_api.worker_key},
            timeout=30,
        )
        answers.append((answer.status_code, time.monotonic() - started))

    polls = [threading.Thread(target=long_poll) for _ in range(3)]
    for poll in polls:
        poll.start()
    _wait_for_waiting_claims(live_api, 3)
    stopped = time.monotonic()
    master.terminate()
    master.wait(30)
    took = time.monotonic() - stopped
    for poll in polls:
        poll.join(30)
    assert [code for code, _ in answers] == [204, 204, 204]
    assert took < 3.5, f"the web API took {took:.1f} s to stop"


def _wait_for_waiting_claims(api: LiveApi, count: int, timeout: float = 15) -> None:
    """Until the API's metrics show ``count`` claims waiting (summed over its processes)."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(f"{api.url}/metrics", timeout=10).text
        waiting = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("shoal_waiting_claims")
        )
        if waiting >= count:
            return
        assert time.monotonic() < deadline, f"only {waiting} claims waiting"
        time.sleep(0.1)
