"""Storage that fails for a while does not fail the job: the upload is tried again while
storage recovers, and an attempt whose results still cannot be stored is handed back as
failed, so the job runs again while attempts remain.

The fault is real and works as root too: the results directory of the job type is
replaced by a file, so every upload of that type fails with an OS error until it is
put back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.worker.conftest import InProcessApi, RunningWorker

StartWorker = Callable[..., RunningWorker]


@contextmanager
def storage_down(storage_dir: Path) -> Iterator[Callable[[], None]]:
    """TEST results cannot be stored until the returned function (or the block's end)
    puts the directory back."""
    blocker = storage_dir / "test"
    storage_dir.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the results directory should be")

    def restore() -> None:
        if blocker.is_file():
            blocker.unlink()

    try:
        yield restore
    finally:
        restore()


def _log_text(client: ShoalClient, job_id: int) -> str:
    return "\n".join(line["message"] for line in client.job_logs(job_id)["lines"])


def _result_files(api: InProcessApi, job_id: int) -> list[str]:
    root = api.storage_dir / "test" / str(job_id)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def _ended(client: ShoalClient, job_id: int) -> dict[str, Any] | None:
    return job_in(client, job_id, "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")


def test_a_job_succeeds_once_storage_is_back(api: InProcessApi, start_worker: StartWorker) -> None:
    with api.client() as client, storage_down(api.storage_dir) as restore:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        start_worker()
        # The worker says in the attempt's own log that it is trying again.
        wait_for(
            lambda: "(try 2)" in _log_text(client, job_id), 30, "a second failed upload"
        )
        restore()
        job = wait_for(lambda: _ended(client, job_id), 30, "the job to end")
    assert job["status"] == "SUCCEEDED", job
    [assignment] = job["assignments"]
    assert (assignment["attempt"], assignment["outcome"]) == (1, "SUCCEEDED")
    assert assignment["result"] is not None
    assert _result_files(api, job_id) == ["attempt-1/result.json"]
    stored = api.storage_dir / "test" / str(job_id) / "attempt-1" / "result.json"
    assert json.loads(stored.read_text()) == {"id": 1}


def test_storage_down_past_the_retries_spends_the_attempt_and_the_job_runs_again(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client, storage_down(api.storage_dir) as restore:
        # Each attempt runs 3 s before it uploads: storage is back before the second's.
        job_id = client.submit_job("TEST", {"id": 2, "durationSeconds": 3})["jobId"]
        start_worker(SHOAL_UPLOAD_RETRY_SECONDS=1)

        def first_attempt_failed() -> bool:
            assignments = client.get_job(job_id)["assignments"]
            return bool(assignments) and assignments[0]["outcome"] == "FAILED"

        wait_for(first_attempt_failed, 30, "the first attempt to be handed back")
        restore()
        job = wait_for(lambda: _ended(client, job_id), 30, "the job to end")
        log = _log_text(client, job_id)
    assert job["status"] == "SUCCEEDED", job
    assert [(a["attempt"], a["outcome"]) for a in job["assignments"]] == [
        (1, "FAILED"),
        (2, "SUCCEEDED"),
    ]
    assert [a["result"] is not None for a in job["assignments"]] == [False, True]
    assert job["attempts"] == 2
    assert "the attempt is handed back" in log
    assert _result_files(api, job_id) == ["attempt-2/result.json"]


def test_storage_that_never_comes_back_fails_the_job_after_its_attempts(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client, storage_down(api.storage_dir):
        job_id = client.submit_job("TEST", {"id": 3})["jobId"]
        start_worker(SHOAL_UPLOAD_RETRY_SECONDS=0)
        job = wait_for(lambda: _ended(client, job_id), 30, "the job to end")
    assert job["status"] == "FAILED", job
    assert [a["outcome"] for a in job["assignments"]] == ["FAILED"] * 3  # maxAttempts 3
    assert job["error_message"].startswith("Storing the results failed (1 try): ")
