"""A registered job type run end to end by in-process workers against the real web API:
registered over HTTP, changed while a job waits, each job run by the command of the
revision it was submitted under (read with ``GET /api/job-types/{name}/revisions/{n}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.client import ShoalClient
from tests.e2e.helpers import job_in, wait_for
from tests.worker.command_support import program
from tests.worker.conftest import InProcessApi, RunningWorker


def shell_model(threads: str) -> dict[str, Any]:
    return {
        "description": "report.sh as a registered type",
        "inputSchema": {
            "type": "object",
            "properties": {"id": {"type": "integer"}},
            "required": ["id"],
            "additionalProperties": False,
        },
        # result.json holds only metadata ("_" keys), which no schema sees.
        "resultSchema": {"type": "object", "additionalProperties": False},
        "run": {
            "command": ["sh", program("report.sh")],
            "environment": {"MODEL_THREADS": threads},
            "stopGraceSeconds": 1,
        },
    }


def test_jobs_run_the_command_of_the_revision_they_were_submitted_under(
    api: InProcessApi, start_worker: Callable[..., RunningWorker]
) -> None:
    with api.client() as client:
        first = client.request("PUT", "/api/job-types/SHELL_MODEL", json=shell_model("4"))
        before = client.submit_job("SHELL_MODEL", {"id": 1})["jobId"]
        second = client.request("PUT", "/api/job-types/SHELL_MODEL", json=shell_model("8"))
        after = client.submit_job("SHELL_MODEL", {"id": 2})["jobId"]
        start_worker(SHOAL_JOB_TYPES="SHELL_MODEL")
        jobs = [
            wait_for(lambda j=j: job_in(client, j, "SUCCEEDED", "FAILED"), 30, f"job {j}")
            for j in (before, after)
        ]
        stderr = [_printed(client, job["id"], "stderr") for job in jobs]
        files = [sorted(client.download_urls(job["id"])["files"]) for job in jobs]
    assert (first["revision"], second["revision"]) == (1, 2)
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "SUCCEEDED"], jobs
    assert [job["typeRevision"] for job in jobs] == [1, 2]
    assert stderr == [["threads: 4"], ["threads: 8"]]
    assert files == [["result.json", "tables/points.csv"]] * 2
    metadata = [job["assignments"][0]["result"]["metadata"] for job in jobs]
    assert [entry["_input"] for entry in metadata] == [{"id": 1}, {"id": 2}]


def _printed(client: ShoalClient, job_id: int, stream: str) -> list[str]:
    return [x["message"] for x, _ in client.iter_job_logs(job_id) if x["stream"] == stream]
