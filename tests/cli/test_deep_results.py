"""``shoal jobs get`` of a job whose result nests 599 levels deep (a registered type
without a result schema takes any object): shown, and printed whole with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.cli.conftest import Caller, Shoal

FREE = {"inputSchema": {"type": "object"}, "exampleInput": {}}
CLAIM = {"jobTypes": ["FREE"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
LEVELS = 300  # objects, each in a list inside the next: 599 levels of JSON


def test_get_shows_a_deeply_nested_result(
    shoal_as_analyst: Shoal,
    live_url: str,
    admin: tuple[int, str],
    worker: Caller,
    submit_job: Callable[..., int],
) -> None:
    admin_headers = {"Authorization": f"Bearer {admin[1]}"}
    registered = httpx.put(f"{live_url}/api/job-types/FREE", json=FREE, headers=admin_headers)
    assert registered.status_code == 201, registered.text
    job_id = submit_job({"id": 1}, "FREE")
    claimed = httpx.post(f"{live_url}/api/jobs/claim", json=CLAIM, headers=worker.headers)
    payload = '{"a": [' * (LEVELS - 1) + '{"leaf": true}' + "]}" * (LEVELS - 1)
    stored = httpx.post(
        f"{live_url}/api/jobs/assignments/{claimed.json()['assignment']['id']}/result",
        content=f'{{"status": "SUCCEEDED", "resultPayload": {payload}}}',
        headers={**worker.headers, "Content-Type": "application/json"},
    )
    assert stored.status_code == 200, stored.text
    shown = shoal_as_analyst("jobs", "get", str(job_id))
    assert shown.exit_code == 0, shown.output
    assert "SUCCEEDED" in shown.stdout and "\nresult " in shown.stdout  # wrapped: shown, not read
    as_json = shoal_as_analyst("jobs", "get", str(job_id), "--json")
    assert as_json.exit_code == 0, as_json.output
    [attempt] = json.loads(as_json.stdout)["assignments"]
    assert json.dumps(attempt["result"]["result_payload"]) == payload
