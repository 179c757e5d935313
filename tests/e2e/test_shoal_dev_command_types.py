"""Registered command types through ``shoal dev``: each type registered over HTTP while the
platform runs, its jobs run by the workers shoal dev's manager starts for it (no restart,
no configuration), each worker running the type's program through the command runner.

One ``shoal dev`` serves every test of this module; each test registers types of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.e2e.live import free_port
from tests.e2e.test_shoal_dev import ADMIN, _stop, _wait_healthy
from tests.support.shoal_dev import start_shoal_dev
from tests.worker.command_support import kill_survivors, program, read_pids, running

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent / "programs"
ID_INPUT = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
SCALING = {"max": 2, "cooldownSeconds": 0}
WAIT = 60.0  # a worker started by the manager: a second's tick, a Python start-up


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalClient]:
    """``shoal dev`` running, and a client logged in as its admin."""
    data_dir, port = tmp_path_factory.mktemp("dev") / "shoal-data", free_port()
    url = f"http://127.0.0.1:{port}"
    with (data_dir.parent / "shoal-dev.log").open("wb") as log:
        proc = start_shoal_dev(data_dir, port, (ADMIN["email"], ADMIN["password"]), log=log)
        try:
            _wait_healthy(url, proc)
            with ShoalClient(url, email=ADMIN["email"], password=ADMIN["password"]) as client:
                yield client
        finally:
            _stop(proc)


@pytest.fixture
def pids_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pids"
    yield path
    kill_survivors(path)


def command_type(command: list[str], environment: dict[str, str], **more: Any) -> dict[str, Any]:
    return {
        "description": "a program run by shoal dev's workers",
        "inputSchema": ID_INPUT,
        "scaling": SCALING,
        "run": {"command": command, "environment": environment, "stopGraceSeconds": 1},
        **more,
    }


def finished(client: ShoalClient, job_id: int) -> dict[str, Any]:
    done = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")
    return wait_for(lambda: job_in(client, job_id, *done), WAIT, f"job {job_id} to end")


def halfway(client: ShoalClient, job_id: int) -> dict[str, Any]:
    """The job once its program's ``::progress 0.5`` reached the API."""
    return wait_for(
        lambda: (job := client.get_job(job_id))["progress"] == 0.5 and job,
        WAIT,
        f"job {job_id}'s progress",
    )


def printed(client: ShoalClient, job_id: int, stream: str) -> list[str]:
    return [x["message"] for x, _ in client.iter_job_logs(job_id) if x["stream"] == stream]


def test_a_shell_and_a_python_program_log_report_progress_upload_and_give_checked_results(
    dev: ShoalClient, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    shell_result = {
        "type": "object",
        "properties": {"rows": {"type": "integer"}, "revision": {"type": "string"}},
        "required": ["rows", "revision"],
        "additionalProperties": False,
    }
    values = {"type": "object", "properties": {"values": {"type": "array"}}}
    sums = {"type": "object", "properties": {"total": {"type": "number", "maximum": 100}}}
    dev.put_job_type(
        "SHELL_MODEL",
        command_type(
            ["sh", str(PROGRAMS / "model.sh")],
            {"MODEL_REV": "1", "GATE": str(gate)},
            resultSchema=shell_result,
        ),
    )
    dev.put_job_type(
        "PY_MODEL",
        command_type(
            [sys.executable, str(PROGRAMS / "model.py")],
            {"GATE": str(gate)},
            inputSchema=values,
            resultSchema=sums,
        ),
    )
    shell = dev.submit_job("SHELL_MODEL", {"id": 1})["jobId"]
    python = dev.submit_job("PY_MODEL", {"values": [1, 2, 3.5]})["jobId"]
    too_big = dev.submit_job("PY_MODEL", {"values": [200]})["jobId"]
    progress = [halfway(dev, job_id)["progress_message"] for job_id in (shell, python)]
    gate.touch()
    jobs = [finished(dev, job_id) for job_id in (shell, python, too_big)]
    files = [dev.download_urls(job_id)["files"] for job_id in (shell, python)]
    logs = [(printed(dev, j, "stdout"), printed(dev, j, "stderr")) for j in (shell, python)]

    assert progress == ["half way", "half way"]
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "SUCCEEDED", "FAILED"], jobs
    results = [job["assignments"][0]["result"]["result_payload"] for job in jobs[:2]]
    assert results == [{"rows": 1, "revision": "1"}, {"total": 6.5, "count": 3}]
    assert jobs[2]["error_message"] == (
        "result.json does not match the job type's result schema: "
        "result.json.total: 200 is greater than the maximum of 100"
    )
    assert [sorted(found) for found in files] == [
        ["result.json", "tables/points.csv"],
        ["result.json", "values.csv"],
    ]
    assert httpx.get(files[0]["tables/points.csv"], timeout=30).text == "x,y\n1,2\n"
    assert httpx.get(files[1]["values.csv"], timeout=30).text == "1\n2\n3.5\n"
    assert logs == [
        ([f"revision 1: job {shell} attempt 1", "done"], ["warming up"]),
        (["summing 3 values", "done"], [f"job {python}"]),
    ]


def test_a_program_that_exits_non_zero_fails_its_job_with_its_last_lines(
    dev: ShoalClient,
) -> None:
    dev.put_job_type("FAILING_MODEL", command_type(["sh", program("fail.sh")], {}))
    job = finished(dev, dev.submit_job("FAILING_MODEL", {"id": 2})["jobId"])
    assert job["status"] == "FAILED"
    assert job["error_message"] == (
        "The command exited with code 3.\nIts last 20 lines of output:\n"
        + "\n".join(f"line {n}" for n in range(6, 26))
    )


def test_a_hung_program_times_out_and_its_process_group_is_killed(
    dev: ShoalClient, pids_file: Path
) -> None:
    hung = command_type(
        ["sh", program("hang.sh")],
        {"PIDS_FILE": str(pids_file)},
        timeoutSeconds=2,
        maxAttempts=1,
    )
    dev.put_job_type("HUNG_MODEL", hung)
    job_id = dev.submit_job("HUNG_MODEL", {"id": 3})["jobId"]
    wait_for(pids_file.exists, WAIT, "the program to start")
    pids = read_pids(pids_file)
    job = finished(dev, job_id)
    wait_for(lambda: not any(running(pid) for pid in pids), 20, "the program killed")
    assert job["status"] == "TIMED_OUT"
    assert job["error_message"] == "ran past its run-time limit of 2 s on the last of 1 attempts"


def test_a_cancel_stops_the_programs_process_group(dev: ShoalClient, pids_file: Path) -> None:
    forks = command_type(["sh", program("fork.sh"), "wait"], {"PIDS_FILE": str(pids_file)})
    dev.put_job_type("FORKING_MODEL", forks)
    job_id = dev.submit_job("FORKING_MODEL", {"id": 4})["jobId"]
    wait_for(pids_file.exists, WAIT, "the program to start")
    pids = read_pids(pids_file)
    assert all(running(pid) for pid in pids)
    dev.cancel_job(job_id)
    wait_for(lambda: not any(running(pid) for pid in pids), 20, "the process group to stop")
    assert dev.get_job(job_id)["status"] == "CANCELLED"


def test_jobs_waiting_while_their_type_changes_run_under_the_revision_they_were_submitted_under(
    dev: ShoalClient, tmp_path: Path
) -> None:
    def revision(n: int, workers: int) -> dict[str, Any]:
        doc = command_type(["sh", str(PROGRAMS / "model.sh")], {"MODEL_REV": str(n)})
        doc["run"]["environment"]["GATE"] = str(tmp_path)  # exists: no waiting half way
        return {**doc, "scaling": {"max": workers, "cooldownSeconds": 0}}

    # Revision 1 gets no workers, so its jobs wait; revision 2 gets one, which runs
    # them all (each by the command of its own revision, read once per revision).
    dev.put_job_type("REVISED_MODEL", revision(1, workers=0))
    waiting = [dev.submit_job("REVISED_MODEL", {"id": n})["jobId"] for n in (1, 2)]
    assert dev.put_job_type("REVISED_MODEL", revision(2, workers=1))["revision"] == 2
    newer = dev.submit_job("REVISED_MODEL", {"id": 3})["jobId"]
    jobs = [finished(dev, job_id) for job_id in (*waiting, newer)]

    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3, jobs
    assert [job["typeRevision"] for job in jobs] == [1, 1, 2]
    revisions = [job["assignments"][0]["result"]["result_payload"]["revision"] for job in jobs]
    assert revisions == ["1", "1", "2"]
    first_lines = [printed(dev, job["id"], "stdout")[0] for job in jobs]
    assert [line.split(":")[0] for line in first_lines] == ["revision 1"] * 2 + ["revision 2"]
