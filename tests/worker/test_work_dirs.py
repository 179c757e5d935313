"""Workers of two platforms on one machine share a work directory's parent, and their
assignment ids repeat (each platform has its own database): each job still has a folder
of its own, and each worker removes its own directory when it stops."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.support import database
from tests.worker.conftest import InProcessApi, RunningWorker, serve_api
from worker.context import JobContext
from worker.handlers import HandlerRegistry

StartWorker = Callable[..., RunningWorker]


def _overlapping_jobs(second_may_finish: threading.Event) -> HandlerRegistry:
    """TEST's handler (its input as ``result.json``), held so that both jobs run at once
    and the first ends, its folder removed, while the second still has work to do."""
    both_running = threading.Barrier(2, timeout=30)
    handlers = HandlerRegistry()

    @handlers.handler("TEST")
    def run(ctx: JobContext) -> dict[str, Any]:
        (ctx.output_dir / "result.json").write_text(json.dumps(ctx.input))
        both_running.wait()
        if ctx.input["id"] == 2:
            assert second_may_finish.wait(30), "the first job did not end"
        return {}

    handlers.register("POLYGON_STATS", run)
    return handlers


def _succeeded(client: ShoalClient, job_id: int) -> dict[str, Any] | None:
    return job_in(client, job_id, "SUCCEEDED", "FAILED", "TIMED_OUT")


def test_two_platforms_workers_never_touch_each_others_files(
    api: InProcessApi,
    start_worker: StartWorker,
    pg_server: URL,
    jwt_pems: tuple[str, str],
    tmp_path: Path,
) -> None:
    shared_parent = tmp_path / "work"
    first_done = threading.Event()
    handlers = _overlapping_jobs(first_done)
    with (
        database.fresh_database(pg_server) as other_db,
        serve_api(
            other_db.render_as_string(hide_password=False), jwt_pems, tmp_path / "other"
        ) as other,
        api.client() as first_client,
        other.client() as second_client,
    ):
        first_id = first_client.submit_job("TEST", {"id": 1})["jobId"]
        second_id = second_client.submit_job("TEST", {"id": 2})["jobId"]
        first = start_worker(handlers=handlers, SHOAL_WORK_DIR=shared_parent)
        second = start_worker(
            handlers=handlers,
            SHOAL_WORK_DIR=shared_parent,
            SHOAL_API_URL=other.url,
            SHOAL_API_KEY=other.worker_key,
        )
        one = wait_for(lambda: _succeeded(first_client, first_id), 30, "the first job")
        first_done.set()
        two = wait_for(lambda: _succeeded(second_client, second_id), 30, "the second job")
        for running in (first, second):
            running.worker.stop("test over")
            assert running.wait(15) == 0
    ids = [job["assignments"][0]["id"] for job in (one, two)]
    assert ids == [1, 1], "the assignment ids collide, as they do across two databases"
    assert (one["status"], two["status"]) == ("SUCCEEDED", "SUCCEEDED"), (one, two)
    for storage, job_id, payload in (
        (api.storage_dir, first_id, 1),
        (other.storage_dir, second_id, 2),
    ):
        stored = storage / "test" / str(job_id) / "attempt-1" / "result.json"
        assert json.loads(stored.read_text()) == {"id": payload}
    assert list(shared_parent.iterdir()) == [], "each worker removed its own directory"
