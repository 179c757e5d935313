"""Results flow to dependents, through real workers against the real web API: an
aggregate job's input takes a sweep's files, one job's file and its payload ``$from``
them, and its command reads them as local files."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tests.e2e.helpers import job_in, wait_for
from tests.worker.command_support import program
from tests.worker.conftest import InProcessApi, RunningWorker

AGGREGATE = {
    "description": "reads a sweep's results",
    "inputSchema": {"type": "object"},
    "run": {"command": [sys.executable, program("aggregate.py")], "stopGraceSeconds": 1},
}


def test_an_aggregate_reads_every_sweep_result_through_from(
    api: InProcessApi, start_worker: Callable[..., RunningWorker]
) -> None:
    with api.client() as client:
        client.request("PUT", "/api/job-types/AGGREGATE", json=AGGREGATE)
        sweep = client.request(
            "POST",
            "/api/jobs/batch",
            json={"type": "TEST", "inputs": [{"id": i} for i in range(5)]},
        )
        first = sweep["jobIds"][0]
        body = {
            "type": "AGGREGATE",
            "inputPayload": {
                "sweep": {"$from": {"batch": sweep["batchId"]}},
                "one": {"$from": {"job": first, "file": "result.json"}},
                "payload": {"$from": {"job": first}},
            },
            "dependencies": [{"batch": sweep["batchId"]}, {"job": first}],
        }
        aggregate = client.request("POST", "/api/jobs", json=body)["jobId"]
        assert client.get_job(aggregate)["status"] == "WAITING"
        start_worker(SHOAL_JOB_TYPES="TEST,AGGREGATE")
        done = wait_for(
            lambda: job_in(client, aggregate, "SUCCEEDED", "FAILED", "CANCELLED"), 60, "aggregate"
        )
        stored = client.get_job(aggregate)["input_payload"]
    assert done["status"] == "SUCCEEDED", done
    result = done["assignments"][-1]["result"]["result_payload"]
    assert result == {
        "ids": [0, 1, 2, 3, 4],
        "statuses": ["SUCCEEDED"] * 5,
        "one": 0,
        "payload": {},
        "paths": [f"batch-{sweep['batchId']}"],
    }
    assert stored == body["inputPayload"]  # the job's input stays as it was submitted
