"""A job's page while it runs, in a real browser against ``shoal dev``: its attempts
and start time follow the job without a reload."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest

from tests.browser.conftest import RESEARCHER, Dev
from tests.browser.helpers import job_id_from, login

pytestmark = pytest.mark.slow


def _unstaffed_type(dev: Dev) -> str:
    """A registered type the manager never starts a worker for (``scaling.max`` 0), so
    the test itself claims its jobs, through the worker API."""
    name = f"LIVE_{secrets.token_hex(3).upper()}"
    body = {
        "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "scaling": {"min": 0, "max": 0},
        "run": {"command": ["true"]},
    }
    with dev.api() as api:
        api.put(f"/api/job-types/{name}", json=body).raise_for_status()
    return name


def _worker(dev: Dev) -> httpx.Client:
    with dev.api() as api:
        answer = api.post("/api/auth/api-keys", json={"name": "browser", "roles": ["WORKER"]})
    answer.raise_for_status()
    headers = {"X-API-Key": answer.json()["key"]}
    return httpx.Client(base_url=dev.url, headers=headers, timeout=30)


def test_the_attempts_update_without_a_reload_when_a_worker_claims_the_job(
    dev: Dev, desktop: Any
) -> None:
    page, _ = desktop
    job_type = _unstaffed_type(dev)
    with dev.api(researcher=True) as api:
        submitted = api.post("/api/jobs", json={"type": job_type, "inputPayload": {"n": 1}})
    job_id = submitted.json()["jobId"]
    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/jobs/{job_id}")
    assert page.locator("#attempt-count").inner_text() == "0 of at most 3"
    assert page.locator("#run-time").inner_text() == "not started yet"
    page.get_by_text("Not picked up by a worker yet.").wait_for()
    page.evaluate("() => { window.sameDocument = true; }")
    with _worker(dev) as worker:
        claim = {"jobTypes": [job_type], "ecsTaskArn": "browser-worker", "ecsClusterArn": "c"}
        claimed = worker.post("/api/jobs/claim", json=claim)
        assert claimed.status_code == 200, claimed.text
        page.locator("#attempt-count", has_text="1 of at most 3").wait_for()
        timeline = page.locator(".timeline li")
        assert timeline.count() == 1
        assert "browser-worker" in timeline.inner_text()
        assert page.locator(".heading [data-part='status']").text_content() == "in progress"
        assert page.locator(".facts dt", has_text="Started").count() == 1
        # The run time counts on in the page while the job runs.
        page.wait_for_function(
            "() => /^[1-9]\\d* s$/.test(document.querySelector('#run-time').textContent)"
        )
        assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
        assignment = claimed.json()["assignment"]["id"]
        result = {"status": "SUCCEEDED", "resultPayload": {}}
        worker.post(f"/api/jobs/assignments/{assignment}/result", json=result).raise_for_status()
    page.locator("#run-again").wait_for()  # the main part drawn again for the ended job
    assert page.locator("#run-time[data-run-seconds]").count() == 0  # stopped counting


def test_run_again_as_it_was_and_with_the_input_edited(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    job_type = _unstaffed_type(dev)
    with dev.api(researcher=True) as api:
        submitted = api.post("/api/jobs", json={"type": job_type, "inputPayload": {"n": 5}})
    job_id = submitted.json()["jobId"]
    with _worker(dev) as worker:
        claim = {"jobTypes": [job_type], "ecsTaskArn": "browser-worker", "ecsClusterArn": "c"}
        assignment = worker.post("/api/jobs/claim", json=claim).json()["assignment"]["id"]
        result = {"status": "SUCCEEDED", "resultPayload": {}}
        worker.post(f"/api/jobs/assignments/{assignment}/result", json=result).raise_for_status()
    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/jobs/{job_id}")
    assert page.get_by_label("compute it afresh (reuse no earlier result)").is_checked()
    page.get_by_role("button", name="Run again").click()
    page.get_by_text("Your job was submitted.").wait_for()
    again = job_id_from(page.url)
    assert again != job_id
    page.goto(f"{dev.url}/jobs/{job_id}")
    page.get_by_role("link", name="Edit the input and run again").click()
    page.wait_for_url(re.compile(rf"/jobs/new\?from={job_id}$"))
    assert page.locator("#field-n").input_value() == "5"
    page.locator("#field-n").fill("6")
    page.get_by_label("Priority").fill("3")
    page.get_by_role("button", name="Submit job").click()
    page.get_by_text("Your job was submitted.").wait_for()
    with dev.api(researcher=True) as api:
        job = api.get(f"/api/jobs/{job_id_from(page.url)}").json()["job"]
    assert (job["type"], job["input_payload"], job["priority"]) == (job_type, {"n": 6}, 3)
