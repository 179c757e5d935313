"""A job's log from in-process workers against the real web API: ``ctx.run`` output and a
failed handler's traceback, per job even with two jobs at once (capture of the process's
streams is not installed here; tests/e2e covers it in a real ``shoal worker``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.worker.conftest import InProcessApi, RunningWorker
from worker.context import JobContext
from worker.handlers import HandlerRegistry

StartWorker = Callable[..., RunningWorker]


def _ended(client: ShoalClient, job_id: int) -> Callable[[], dict[str, Any] | None]:
    return lambda: job_in(client, job_id, "SUCCEEDED", "FAILED")


def test_commands_and_tracebacks_land_in_their_own_jobs_log(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    handlers = HandlerRegistry()
    both_running = threading.Barrier(2)

    @handlers.handler("TEST")
    def run(ctx: JobContext) -> dict[str, Any]:
        number = ctx.input["id"]
        both_running.wait(10)  # two jobs at once: a process-wide capture could not tell
        for _ in range(3):
            ctx.run(["sh", "-c", f"echo job {number}; echo warn {number} >&2"])
        both_running.wait(10)
        if number == 2:
            raise RuntimeError("the model diverged")
        return {}

    handlers.register("POLYGON_STATS", run)
    with api.client() as client:
        ids = [client.submit_job("TEST", {"id": n})["jobId"] for n in (1, 2)]
        start_worker(handlers=handlers, SHOAL_WORKER_CONCURRENCY=2)
        jobs = [wait_for(_ended(client, job_id), 20, f"job {job_id}") for job_id in ids]
        logs = [[line for line, _ in client.iter_job_logs(j)] for j in ids]
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "FAILED"]
    for number, lines in zip((1, 2), logs, strict=True):
        printed = [(line["stream"], line["message"]) for line in lines if line["stream"] != "log"]
        assert (
            sorted(printed)
            == [("stderr", f"warn {number}")] * 3 + [("stdout", f"job {number}")] * 3
        )
    [error] = [line for line in logs[1] if line["stream"] == "log"]
    assert error["level"] == "ERROR"
    assert "Traceback" in error["message"]
    assert error["message"].endswith("RuntimeError: the model diverged")
    assert not [line for line in logs[0] if line["stream"] == "log"]
    assert jobs[1]["logTail"][-1]["message"] == error["message"]  # shown beside the error
