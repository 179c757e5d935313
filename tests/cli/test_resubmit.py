"""``shoal jobs resubmit`` against the real web API over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.cli.conftest import Caller, FakeWorker, Shoal


def _input(live_url: str, analyst: Caller, job_id: int) -> dict:
    answer = httpx.get(f"{live_url}/api/jobs/{job_id}", headers=analyst.headers, timeout=30)
    return dict(answer.json()["job"]["input_payload"])


def test_resubmit_reuses_a_result_unless_no_cache_then_an_edited_input(
    shoal_as_analyst: Shoal,
    submit_job: Callable[..., int],
    fake_worker: Callable[..., FakeWorker],
    live_url: str,
    analyst: Caller,
) -> None:
    job_id = submit_job({"id": 40})
    fake_worker(progress=[], pause=0).join()
    cached = shoal_as_analyst("jobs", "resubmit", str(job_id))
    assert cached.exit_code == 0, cached.output
    assert cached.stdout == (
        f"job {job_id} (cached: an identical job exists; --no-cache runs it anew)\n"
    )
    fresh = shoal_as_analyst("jobs", "resubmit", str(job_id), "--no-cache")
    assert fresh.exit_code == 0, fresh.output
    found = re.fullmatch(rf"job (\d+) submitted \(job {job_id} run again\)\n", fresh.stdout)
    assert found, fresh.stdout
    assert int(found.group(1)) != job_id
    assert _input(live_url, analyst, int(found.group(1))) == {"id": 40}
    edited = shoal_as_analyst("jobs", "resubmit", str(job_id), "--input", '{"id": 41}')
    assert edited.exit_code == 0, edited.output
    edited_id = int(edited.stdout.split()[1])
    assert _input(live_url, analyst, edited_id) == {"id": 41}


def test_resubmit_with_a_bad_input_is_one_line_and_creates_nothing(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], live_url: str, analyst: Caller
) -> None:
    job_id = submit_job({"id": 42})
    result = shoal_as_analyst("jobs", "resubmit", str(job_id), "--input", '{"id": "x"}')
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "[HTTP 400]" in line and "inputPayload.id" in line
    listed = httpx.get(f"{live_url}/api/jobs", headers=analyst.headers, timeout=30).json()
    assert listed["total"] == 1
    missing = shoal_as_analyst("jobs", "resubmit", "999999")
    assert missing.exit_code == 1 and "[HTTP 404]" in missing.stderr
