"""A custom job type from an installed package, as docs/custom-job-types.md describes it:
its spec through ``shoal.job_types`` (the web API and the worker), its handler through
``shoal.handlers`` (the worker), both found on the processes' path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.client import ApiError
from tests.e2e.conftest import StartApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for
from tests.support.job_package import install_job_package

pytestmark = pytest.mark.slow

TYPES = """
from marshmallow import Schema, fields, validate

from shared.jobtypes import JobTypeSpec


class CellsInput(Schema):
    region = fields.String(required=True, validate=validate.Length(min=1, max=100))
    threshold = fields.Float(required=True, validate=validate.Range(min=0, max=1))


class CellsResult(Schema):
    cells = fields.Integer(required=True, validate=validate.Range(min=0))


def job_types():
    return [JobTypeSpec(name="CELLS", input_schema=CellsInput, result_schema=CellsResult)]
"""

HANDLERS = """
def register(registry):
    @registry.handler("CELLS")
    def cells(ctx):
        (ctx.output_dir / "region.txt").write_text(ctx.input["region"])
        return {"cells": round(ctx.input["threshold"] * 100)}
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """The package ``cells_jobs``, installed in a directory to put on PYTHONPATH."""
    return install_job_package(tmp_path / "site", "cells_jobs", TYPES, HANDLERS)


def test_a_packaged_job_type_is_validated_by_the_api_and_run_by_a_worker(
    start_api: StartApi, worker_process: Callable[..., WorkerProcess], package: Path
) -> None:
    api = start_api(PYTHONPATH=package)
    with api.client() as client:
        with pytest.raises(ApiError) as refused:
            client.submit_job("CELLS", {"region": "reef", "threshold": 2})
        assert refused.value.status == 400
        assert set(refused.value.errors) == {"inputPayload.threshold"}, refused.value.errors
        assert client.list_jobs(type="CELLS")["total"] == 0  # refused, nothing stored
        job_id = client.submit_job("CELLS", {"region": "reef", "threshold": 0.25})["jobId"]
        worker_process("CELLS", api, PYTHONPATH=package)
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 60, "the job")
    assert job["status"] == "SUCCEEDED", job
    [assignment] = job["assignments"]
    assert assignment["result"]["result_payload"] == {"cells": 25}
    stored = api.storage_dir / "cells" / str(job_id) / "attempt-1" / "region.txt"
    assert stored.read_text() == "reef"
