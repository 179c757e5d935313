"""Claims whose workers are gone, on the real ``shoal webapi`` (gunicorn, gevent, two
processes): waiting claims whose clients were killed or closed take no job, so no job
goes to a dead worker and none loses an attempt; a claim whose client leaves while its
job is being taken is undone."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.e2e.conftest import LiveApi, StartApi, WorkerProcess
from tests.e2e.helpers import count, wait_for
from tests.e2e.test_many_clients import metric, request, sockets
from tests.support.metrics import sample
from tests.webapi.jobs.test_gone_claimers import CLAIMING, _locked, _waits_on_a_lock

pytestmark = pytest.mark.slow
DEAD = 100  # waiting claims whose clients go away: half killed, half closed cleanly
KILLED_PROCESSES = 5
JOBS = 100
GONE = "shoal_claims_for_gone_clients_total"

# A client process that opens one connection per claim, sends them, says so, and waits
# to be killed.
HOLDER = """
import json, socket, sys
spec = json.loads(sys.stdin.readline())
held = [socket.create_connection((spec["host"], spec["port"])) for _ in spec["requests"]]
for sock, raw in zip(held, spec["requests"]):
    sock.sendall(raw.encode("latin-1"))
print("sent", flush=True)
sys.stdin.read()
"""


def _claim(live_api: LiveApi, task: str, wait_seconds: int) -> bytes:
    body = {"jobTypes": ["TEST"], "ecsTaskArn": task, "ecsClusterArn": "c"}
    headers = {"X-API-Key": live_api.worker_key, "Content-Type": "application/json"}
    return request(
        "POST",
        "/api/jobs/claim",
        headers,
        json.dumps(body | {"waitSeconds": wait_seconds}).encode(),
    )


def _holder(live_api: LiveApi, requests: list[bytes]) -> subprocess.Popen[bytes]:
    url = urlparse(live_api.url)
    spec = {"host": url.hostname, "port": url.port, "requests": [r.decode() for r in requests]}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(json.dumps(spec).encode() + b"\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == b"sent\n"
    return holder


def _gone(live_api: LiveApi, stage: str) -> float:
    body = httpx.get(f"{live_api.url}/metrics", timeout=10).text
    return sample(body, GONE, {"stage": stage}) or 0.0


def test_claims_of_killed_and_closed_clients_take_none_of_100_jobs(
    start_api: StartApi, worker_process: Callable[..., WorkerProcess], engine: Engine
) -> None:
    # Only notifications wake claimers: every job meets the dead claims first.
    live_api = start_api(SHOAL_CLAIM_RECHECK_SECONDS=60)
    dead = [_claim(live_api, f"dead-{n}", 30) for n in range(DEAD)]
    per_holder = DEAD // 2 // KILLED_PROCESSES
    holders = [
        _holder(live_api, dead[i * per_holder : (i + 1) * per_holder])
        for i in range(KILLED_PROCESSES)
    ]
    with sockets(live_api, dead[DEAD // 2 :]):  # closed at the end of the block
        wait_for(lambda: metric(live_api, "shoal_waiting_claims") == DEAD, 20, "the claims")
        for holder in holders:
            holder.kill()  # SIGKILL
            holder.communicate(timeout=10)
    # Live workers, whose long polls wait behind the dead ones.
    workers = [worker_process(api=live_api, SHOAL_CLAIM_WAIT_SECONDS=20) for _ in range(2)]
    wait_for(lambda: metric(live_api, "shoal_waiting_claims") == DEAD + 2, 20, "the workers")
    with live_api.client() as client:
        ids = [
            client.submit_job("TEST", {"id": n, "durationSeconds": 0})["jobId"] for n in range(JOBS)
        ]
        wait_for(lambda: count(client, "SUCCEEDED") == JOBS, 120, "every job to succeed")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT j.id, j.attempts, a.attempt, a.ecs_task_arn"
                " FROM jobs j JOIN job_assignments a ON a.job_id = j.id ORDER BY j.id"
            )
        ).all()
    live = {f"local:{socket.gethostname()}:{worker.pid}" for worker in workers}
    assert [row.id for row in rows] == sorted(ids)  # one assignment per job
    assert {(row.attempts, row.attempt) for row in rows} == {(1, 1)}
    assert {row.ecs_task_arn for row in rows} <= live
    # Every dead claim was found gone when a job came, and none took one to undo.
    assert (_gone(live_api, "skipped"), _gone(live_api, "undone")) == (DEAD, 0)


def test_a_claim_whose_client_left_while_it_was_taken_is_undone(
    live_api: LiveApi, engine: Engine
) -> None:
    with live_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        with (
            _locked(engine, "job_assignments", "SHARE"),
            sockets(live_api, [_claim(live_api, "t", 0)]),
        ):
            wait_for(lambda: _waits_on_a_lock(engine, CLAIMING), 10, "the claim to wait")
        wait_for(lambda: _gone(live_api, "undone") == 1, 10, "the claim to be undone")
        job = client.get_job(job_id)
    assert (job["status"], job["attempts"], job["assignments"]) == ("PENDING", 0, [])
    assert _gone(live_api, "skipped") == 0


def test_a_worker_stopped_while_it_waits_leaves_no_claim_behind(
    live_api: LiveApi, worker_process: Callable[..., WorkerProcess]
) -> None:
    """``shoal admin scale 0`` on an idle worker: SIGTERM during its long poll."""
    worker = worker_process(api=live_api, SHOAL_CLAIM_WAIT_SECONDS=20)
    wait_for(lambda: metric(live_api, "shoal_waiting_claims") == 1, 20, "the long poll")
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.popen.wait(10) == 0
    with live_api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        wait_for(lambda: _gone(live_api, "skipped") == 1, 10, "the claim to end")
        job = client.get_job(job_id)
    assert (job["status"], job["assignments"]) == ("PENDING", [])
    # The stop cut the long poll off: the process did not exit with it in flight.
    assert '"action": "claim_abandoned"' not in worker.logs()
