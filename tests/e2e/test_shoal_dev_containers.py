"""A registered type that names an image, run by ``shoal dev``'s manager in a container
(``SHOAL_LOCAL_CONTAINERS``): the worker image is built from this checkout, the type's
program runs in it, its result lands in shoal dev's result store, the worker is known
by the name the manager's fleet gives it, and no container outlives ``shoal dev``.

Skipped, with the reason, without a container engine (tests/docker/engine.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from shared.client import ShoalClient
from tests.docker.engine import Engine, find_engine, tag
from tests.e2e.helpers import job_in, wait_for
from tests.e2e.live import free_port
from tests.e2e.test_shoal_dev import ADMIN, _stop, _wait_healthy
from tests.support.shoal_dev import start_shoal_dev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WORKER = tag("shoal-worker")
# Writes whether it runs in the worker image (its entry point is there, not on the host;
# the host may itself be a container) as its result.
PROGRAM = (
    "import json, os; "
    "inside = os.path.exists('/usr/local/bin/shoal-entrypoint'); "
    "print('in a container' if inside else 'on the host', flush=True); "
    "open(os.environ['SHOAL_OUTPUT_DIR'] + '/result.json', 'w')"
    ".write(json.dumps({'inContainer': inside}))"
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    found, reason = find_engine()
    if found is None:
        pytest.skip(reason)
    found.build("worker.Dockerfile", WORKER)
    return found


def test_a_registered_type_with_an_image_runs_in_its_container(
    engine: Engine, tmp_path: Path
) -> None:
    port, data_dir = free_port(), tmp_path / "shoal-data"
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "shoal-dev.log").open("wb") as log:
        proc = start_shoal_dev(
            data_dir,
            port,
            (ADMIN["email"], ADMIN["password"]),
            log=log,
            SHOAL_LOCAL_CONTAINERS=Path(engine.program).name,
        )
        try:
            _wait_healthy(url, proc)
            with ShoalClient(url, email=ADMIN["email"], password=ADMIN["password"]) as client:
                client.put_job_type(
                    "BOXED_MODEL",
                    {
                        "inputSchema": {"type": "object"},
                        "scaling": {"max": 1, "cooldownSeconds": 0},
                        "run": {"command": ["python", "-c", PROGRAM], "image": WORKER},
                    },
                )
                job_id = client.submit_job("BOXED_MODEL", {"n": 1})["jobId"]
                job = wait_for(
                    lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 300, "the job"
                )
                fleet = client.request("GET", "/api/admin/workers")["workers"]
                result = httpx.get(client.download_urls(job_id)["files"]["result.json"])
        finally:
            _stop(proc)
    left = engine.run("ps", "--all", "--quiet", "--filter", f"ancestor={WORKER}")
    assert job["status"] == "SUCCEEDED", job["error_message"]
    [assignment] = job["assignments"]
    assert assignment["result"]["result_payload"] == {"inContainer": True}
    assert json.loads(result.text) == {"inContainer": True}
    assert assignment["ecs_task_arn"] in {w["taskArn"] for w in fleet}, fleet
    assert left.strip() == "", "a container outlived shoal dev"
