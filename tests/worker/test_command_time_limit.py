"""The run-time limit of a job run by its command: the job ends TIMED_OUT, and a command
that ignores SIGTERM gets its stop grace, then is killed with its child, while the
worker runs on (the grace is not a handler ignoring its cancellation)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.client import ShoalClient
from shared.jobtypes import JobTypeRegistry
from tests.e2e.helpers import job_in, wait_for
from tests.worker.command_support import FixedSpec, kill_survivors, program, read_pids, running
from tests.worker.conftest import InProcessApi, RunningWorker
from worker.handlers import HandlerRegistry
from worker.runspec import RunSpec

TIMEOUT = 2
STOP_GRACE = 3.0


@pytest.fixture
def api_job_overrides() -> dict[str, dict[str, object]]:
    return {"TEST": {"leaseSeconds": 30, "maxAttempts": 1, "timeoutSeconds": TIMEOUT}}


@pytest.fixture
def pids_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pids"
    yield path
    kill_survivors(path)


def test_a_hung_command_times_out_and_is_killed_after_its_grace(
    api: InProcessApi, start_worker: Callable[..., RunningWorker], pids_file: Path
) -> None:
    spec = RunSpec(("sh", program("hang.sh")), {"PIDS_FILE": str(pids_file)}, STOP_GRACE)
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        worker = start_worker(
            handlers=HandlerRegistry(),
            specs=JobTypeRegistry(),
            run_specs=FixedSpec(spec),
            SHOAL_CANCEL_GRACE_SECONDS=1,  # shorter than the command's stop grace
        )
        wait_for(pids_file.exists, 20, "the program to start")
        pids = read_pids(pids_file)
        job = wait_for(lambda: job_in(client, job_id, "TIMED_OUT"), 20, "the run-time limit")
        wait_for(lambda: not any(running(pid) for pid in pids), 20, "the command killed")
        killed = f"still running {STOP_GRACE:g} s after SIGTERM: SIGKILL to its process group"
        lines = wait_for(
            lambda: (found := _log(client, job_id)) and found[-1][2] == killed and found,
            10,
            "the job's last log line",
        )
        worker.worker.stop("test over")
        exit_code = worker.wait(20)
    assert exit_code == 0  # not HANDLER_STUCK: the command was within its stop grace
    assert job["error_message"] == (
        f"ran past its run-time limit of {TIMEOUT} s on the last of 1 attempts"
    )
    assert [message for _, stream, message in lines if stream == "log"] == [
        "The job is stopping: SIGTERM to the command's process group",
        killed,
    ]


def _log(client: ShoalClient, job_id: int) -> list[tuple[str, str, str]]:
    return [(x["level"], x["stream"], x["message"]) for x, _ in client.iter_job_logs(job_id)]
