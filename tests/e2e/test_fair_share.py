"""Fair share end to end: a big backlog does not make a colleague wait behind it.

The real web API (gunicorn) and two real ``shoal worker`` processes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.client import ShoalClient
from tests.e2e.conftest import LiveApi, WorkerProcess
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.slow

StartWorker = Callable[..., WorkerProcess]


def _analyst(api: LiveApi, admin: ShoalClient, email: str, weight: int = 1) -> ShoalClient:
    password = secrets.token_urlsafe(12)
    user = admin.request(
        "POST", "/api/users", json={"email": email, "password": password, "roles": ["ANALYST"]}
    )["user"]
    if weight != 1:
        quota = {"weight": weight, "maxPending": None, "maxRunning": None}
        admin.request("PUT", f"/api/users/{user['id']}/quota", json=quota)
    return ShoalClient(api.url, email=email, password=password)


def _submit(client: ShoalClient, first: int, n: int) -> list[int]:
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda i: client.submit_job("TEST", {"id": i}), range(first, first + n))
        return [answer["jobId"] for answer in answers]


def _jobs(client: ShoalClient, status: str) -> list[dict[str, Any]]:
    return client.list_jobs(status=status, limit=100)["jobs"]  # type: ignore[no-any-return]


def test_twenty_jobs_finish_before_a_two_thousand_job_backlog_runs_its_hundredth(
    live_api: LiveApi, worker_process: StartWorker
) -> None:
    with live_api.client() as admin:
        big = _analyst(live_api, admin, "big@example.org")
        small = _analyst(live_api, admin, "small@example.org")
    with big, small:
        big_ids = sorted(_submit(big, 0, 2000))
        small_ids = _submit(small, 10_000, 20)
        hundredth = big_ids[99]
        workers = [worker_process("TEST") for _ in range(2)]

        def settled() -> str | None:
            if big.get_job(hundredth)["started_at"] is not None:
                return "big"
            done = small.list_jobs(status="SUCCEEDED", limit=1)["total"]
            return "small" if done == len(small_ids) else None

        first = wait_for(settled, 120, "the small backlog or the big one's 100th job")
        assert first == "small", "the big backlog's 100th job started first"
        last_small = max(job["finished_at"] for job in _jobs(small, "SUCCEEDED"))
        started = big.get_job(hundredth)["started_at"]
        assert started is None or started > last_small
        assert all(worker.popen.poll() is None for worker in workers)


def test_four_workers_serve_a_weight_3_user_three_jobs_for_every_one_of_a_weight_1_user(
    live_api: LiveApi, worker_process: StartWorker
) -> None:
    with live_api.client() as admin:
        heavy = _analyst(live_api, admin, "heavy@example.org", weight=3)
        light = _analyst(live_api, admin, "light@example.org")
    workers = [worker_process("TEST") for _ in range(4)]
    # All four wait for work before there is any: the shares show from the start.
    wait_for(
        lambda: all('"worker_started"' in w.logs() for w in workers), 60, "the workers to start"
    )
    with heavy, light:
        for client, first, n in ((heavy, 0, 90), (light, 1000, 40)):
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda i, c=client: c.submit_job("TEST", {"id": i, "durationSeconds": 0.4}),
                        range(first, first + n),
                    )
                )

        def done() -> int:
            return sum(c.list_jobs(status="SUCCEEDED", limit=1)["total"] for c in (heavy, light))

        wait_for(lambda: done() >= 64, 120, "64 jobs to succeed", 0.5)
        starts = sorted(
            (job["started_at"], owner)
            for owner, client in (("heavy", heavy), ("light", light))
            for job in client.list_jobs(limit=100)["jobs"]
            if job["started_at"] is not None
        )
        first_60 = [owner for _, owner in starts[:60]]
        # 3:1 while both wait: about 45 of the first 60, the first few all heavy's
        # (submitted first); weight 1 gives about 32
        assert 38 <= first_60.count("heavy") <= 50, first_60
        assert all(worker.popen.poll() is None for worker in workers)
