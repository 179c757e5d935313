"""Jobs run by their command, through in-process workers against the real web API: the
claim, heartbeats with progress, the job's log, the upload, the result, a cancel and a
stopping worker.

These workers know no job types and no handlers (every type is a command type to
them) and take their run spec from the test instead of ``GET /api/job-types/{name}/
revisions/{revision}`` (test_registered_command_jobs.py reads it there); TEST jobs stand
in for a registered type's (its result schema allows only metadata: ``_`` keys).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.client import ShoalClient
from shared.errors import SettingsError
from shared.jobtypes import JobTypeRegistry, default_registry
from tests.e2e.helpers import job_in, wait_for
from tests.worker.command_support import FixedSpec, kill_survivors, program, read_pids, running
from tests.worker.conftest import InProcessApi, RunningWorker
from worker.handlers import HandlerRegistry
from worker.identity import TaskIdentity
from worker.runspec import RunSpec
from worker.runtime import Worker
from worker.settings import WorkerSettings

StartWorker = Callable[..., RunningWorker]


@pytest.fixture
def pids_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pids"
    yield path
    kill_survivors(path)


def start_command_worker(start_worker: StartWorker, spec: RunSpec, **env: Any) -> RunningWorker:
    """A worker with no job types or handlers of its own: TEST jobs run ``spec``."""
    return start_worker(
        handlers=HandlerRegistry(), specs=JobTypeRegistry(), run_specs=FixedSpec(spec), **env
    )


def log_of(client: ShoalClient, job_id: int) -> list[tuple[str, str, str]]:
    return [(x["level"], x["stream"], x["message"]) for x, _ in client.iter_job_logs(job_id)]


def test_a_command_job_reports_progress_logs_uploads_and_succeeds(
    api: InProcessApi, start_worker: StartWorker, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    spec = RunSpec(("sh", program("report.sh")), {"MODEL_THREADS": "4", "GATE": str(gate)})
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        start_command_worker(start_worker, spec)
        halfway = wait_for(
            lambda: (job := client.get_job(job_id))["progress"] == 0.5 and job,
            20,
            "the program's progress through a heartbeat",
        )
        gate.touch()
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 20, "the job")
        lines = log_of(client, job_id)
        files = client.download_urls(job_id)["files"]
    assert halfway["progress_message"] == "half way"
    assert job["status"] == "SUCCEEDED", job["error_message"]
    [assignment] = job["assignments"]
    metadata = assignment["result"]["metadata"]
    assert metadata["_input"] == {"id": 1}
    assert Path(metadata["_cwd"]).name == f"assignment-{assignment['id']}"
    assert sorted(files) == ["result.json", "tables/points.csv"]
    stored = api.storage_dir / "test" / str(job_id) / "attempt-1"
    assert (stored / "tables" / "points.csv").read_text() == "x,y\n1,2\n"
    assert json.loads((stored / "result.json").read_text())["_input"] == {"id": 1}
    assert [line for line in lines if line[1] == "stdout"] == [
        ("INFO", "stdout", f"job {job_id} attempt 1 of TEST"),
        ("INFO", "stdout", "done"),
    ]
    assert [line for line in lines if line[1] == "stderr"] == [("INFO", "stderr", "threads: 4")]


def test_a_failing_command_fails_its_job_with_its_last_lines(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 2})["jobId"]
        start_command_worker(start_worker, RunSpec(("sh", program("fail.sh"))))
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 20, "the job")
        lines = log_of(client, job_id)
    assert job["status"] == "FAILED"
    assert job["error_message"] == (
        "The command exited with code 3.\nIts last 20 lines of output:\n"
        + "\n".join(f"line {n}" for n in range(6, 26))
    )
    assert lines[-1] == ("ERROR", "log", "The command exited with code 3.")
    assert [message for _, stream, message in lines if stream == "stdout"] == [
        f"line {n}" for n in range(1, 26)
    ]
    assert job["assignments"][0]["result"] is None


def test_a_result_json_that_breaks_the_result_schema_fails_the_job(
    api: InProcessApi, start_worker: StartWorker
) -> None:
    write = "import os; open(os.environ['SHOAL_OUTPUT_DIR'] + '/result.json', 'w').write('[]')"
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 3})["jobId"]
        start_command_worker(start_worker, RunSpec((sys.executable, "-c", write)))
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 20, "the job")
    assert job["status"] == "FAILED"
    assert job["error_message"] == "result.json must hold a JSON object, not an array"


def test_a_cancelled_job_stops_its_command_and_the_commands_child(
    api: InProcessApi, start_worker: StartWorker, pids_file: Path
) -> None:
    spec = RunSpec(("sh", program("fork.sh"), "wait"), {"PIDS_FILE": str(pids_file)})
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 4})["jobId"]
        start_command_worker(start_worker, spec)
        wait_for(pids_file.exists, 20, "the program to start")
        pids = read_pids(pids_file)
        client.cancel_job(job_id)
        wait_for(lambda: not any(running(pid) for pid in pids), 20, "the command to stop")
        job = client.get_job(job_id)
        stopping = ("WARNING", "log", "The job is stopping: SIGTERM to the command's process group")
        wait_for(lambda: stopping in log_of(client, job_id), 10, "the job's last log line")
    assert job["status"] == "CANCELLED"
    assert job["assignments"][0]["result"] is None


def test_a_stopping_worker_kills_a_command_that_ignores_sigterm_and_hands_its_job_back(
    api: InProcessApi, start_worker: StartWorker, pids_file: Path
) -> None:
    # A stop grace longer than the worker's clean-up time: the worker waits it out.
    spec = RunSpec(("sh", program("hang.sh")), {"PIDS_FILE": str(pids_file)}, 3.0)
    with api.client() as client:
        job_id = client.submit_job("TEST", {"id": 5})["jobId"]
        worker = start_command_worker(start_worker, spec, SHOAL_GRACE_SECONDS=0)
        wait_for(pids_file.exists, 20, "the program to start")
        pids = read_pids(pids_file)
        worker.worker.stop("test")
        assert worker.wait(30) == 0
        survivors = [pid for pid in pids if running(pid)]
        job = wait_for(lambda: job_in(client, job_id, "PENDING"), 10, "the job handed back")
    assert survivors == []
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "RELEASED"


def test_a_type_known_here_needs_its_handler_and_any_other_is_a_command(
    api: InProcessApi,
) -> None:
    env = {"SHOAL_API_URL": api.url, "SHOAL_API_KEY": api.worker_key}
    identity = TaskIdentity("local:test:0", "local")
    with ShoalClient(api.url) as client:
        registered = WorkerSettings.from_env({**env, "SHOAL_JOB_TYPES": "TEST,MY_MODEL"})
        assert registered.job_types == ("TEST", "MY_MODEL")
        Worker(registered, client, identity, default_registry(), _test_only())
        with pytest.raises(SettingsError) as err:
            Worker(registered, client, identity, default_registry(), HandlerRegistry())
    assert err.value.message == "SHOAL_JOB_TYPES: no handler for job type(s) TEST"


def _test_only() -> HandlerRegistry:
    handlers = HandlerRegistry()
    handlers.register("TEST", lambda ctx: {})
    return handlers
