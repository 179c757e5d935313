"""The run-time limit: a handler that hangs, ignoring its cancellation, still ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from shared.enums import WorkerExit
from tests.e2e.helpers import job_in, wait_for
from tests.worker.conftest import InProcessApi, RunningWorker
from worker.context import JobContext
from worker.handlers import HandlerRegistry

TIMEOUT = 2


@pytest.fixture
def api_job_overrides() -> dict[str, dict[str, object]]:
    return {"TEST": {"leaseSeconds": 30, "maxAttempts": 1, "timeoutSeconds": TIMEOUT}}


@pytest.fixture
def hanging() -> Iterator[HandlerRegistry]:
    """TEST handlers that never return for ``id`` 1 and ignore every cancellation."""
    released = threading.Event()  # only the end of the test lets the thread go
    handlers = HandlerRegistry()

    @handlers.handler("TEST")
    def run(ctx: JobContext) -> dict[str, Any]:
        while ctx.input["id"] == 1 and not released.is_set():
            time.sleep(0.05)
        return {}

    handlers.register("POLYGON_STATS", run)
    yield handlers
    released.set()


def test_a_hung_handler_ends_timed_out_and_its_worker_exits_to_stop_it(
    api: InProcessApi, start_worker: Callable[..., RunningWorker], hanging: HandlerRegistry
) -> None:
    with api.client() as client:
        hung = client.submit_job("TEST", {"id": 1})["jobId"]
        running = start_worker(handlers=hanging, SHOAL_CANCEL_GRACE_SECONDS=1)
        wait_for(lambda: job_in(client, hung, "IN_PROGRESS"), 10, "the job to start")
        started = time.monotonic()
        job = wait_for(lambda: job_in(client, hung, "TIMED_OUT"), 15, "the job to time out")
        timed_out_after = time.monotonic() - started
        assert running.wait(10) == WorkerExit.HANDLER_STUCK
        exited_after = time.monotonic() - started
        # The next worker (the manager starts one at its next tick) takes the next job.
        following = client.submit_job("TEST", {"id": 2})["jobId"]
        start_worker(handlers=hanging)
        done = wait_for(lambda: job_in(client, following, "SUCCEEDED"), 10, "the next job")
    ran = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    assert TIMEOUT <= ran.total_seconds() < TIMEOUT + 3  # the sweep runs every 0.5 s
    assert timed_out_after < TIMEOUT + 3
    assert exited_after < TIMEOUT + 6
    assert (
        job["error_message"]
        == f"ran past its run-time limit of {TIMEOUT} s on the last of 1 attempts"
    )
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "EXPIRED" and assignment["result"] is None
    assert done["status"] == "SUCCEEDED"
