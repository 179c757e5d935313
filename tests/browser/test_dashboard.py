"""The dashboard in a real browser against ``shoal dev``: researchers' and admins' flows,
CSRF, logout; every page's weight, first render and axe-core audit at two widths."""

from __future__ import annotations

import json
import re
import secrets
import statistics
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ADMIN, RESEARCHER, Dev, playwright_api
from tests.browser.helpers import MEASURED, job_id_from, login, report, visit
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.slow
LIVE = 90_000  # ms: a worker process may have to start first


def _polygon() -> dict[str, Any]:
    lon, lat = 140 + secrets.randbelow(1000) / 100, -20 + secrets.randbelow(1000) / 100
    ring = [[lon, lat], [lon + 0.5, lat], [lon + 0.5, lat + 0.4], [lon, lat + 0.4], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _submit_test(page: Any, url: str, seconds: float) -> int:
    page.goto(f"{url}/jobs/new?type=TEST")
    page.locator("#field-id").fill(str(secrets.randbelow(10**9)))
    page.locator("#field-durationSeconds").fill(str(seconds))
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?notice=submitted"))
    return job_id_from(page.url)


def _status(page: Any, job_id: int) -> Any:
    return page.locator(f'.heading [data-job-id="{job_id}"][data-part="status"]')


def test_a_test_job_progress_bar_reaches_100_live(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    job_id = _submit_test(page, dev.url, 6)
    page.get_by_role("link", name="My jobs", exact=True).click()
    page.wait_for_url(f"{dev.url}/")
    page.evaluate("() => { window.sameDocument = true; }")
    bar = f'progress[data-job-id="{job_id}"]'
    assert int(page.locator(bar).get_attribute("value")) < 100
    page.wait_for_function(f"() => document.querySelector('{bar}').value === 100", timeout=LIVE)
    status = page.locator(f'.job-row [data-job-id="{job_id}"][data-part="status"]')
    assert status.text_content() == "succeeded"
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"


def test_a_running_jobs_log_page_appends_its_lines_live(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    job_id = _submit_test(page, dev.url, 3)
    # The job page fetches its main part again as the job is taken and ends, which moves the
    # link (the waiting reason goes, the log tail comes): a click can land beside it. The
    # link is followed by its address instead.
    href = page.locator("#job-log-link").get_attribute("href")
    assert href == f"/jobs/{job_id}/logs"
    page.goto(f"{dev.url}{href}")
    page.evaluate("() => { window.sameDocument = true; }")
    page.wait_for_selector("#log-end", timeout=LIVE)
    lines = page.locator(".log-line").all_text_contents()
    assert [line.split("] ", 1)[1] for line in lines] == [f"waited {n} of 3 s" for n in (1, 2, 3)]
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"


def test_polygon_stats_from_a_paste_and_its_file_matches_the_api(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/jobs/new?type=POLYGON_STATS")
    page.locator("#field-polygon").fill(json.dumps(_polygon()))
    page.locator("#field-polygon-preview svg path").wait_for()
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+"))
    job_id = job_id_from(page.url)
    page.locator("#result-json").wait_for(timeout=LIVE)  # swapped in when the job ends
    with page.expect_download() as downloading:
        page.get_by_role("link", name="stats.json").click()
    downloaded = json.loads(Path(downloading.value.path()).read_text())
    with dev.api() as api:
        job = api.get(f"/api/jobs/{job_id}").json()["job"]
    [result] = [a["result"] for a in job["assignments"] if a["result"]]
    assert downloaded == result["result_payload"]
    assert json.loads(page.locator("#result-json").inner_text()) == result["result_payload"]


def test_cancel_a_running_job(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    job_id = _submit_test(page, dev.url, 300)
    page.wait_for_function(
        f"() => document.querySelector('.heading [data-job-id=\"{job_id}\"]').textContent"
        " === 'in progress'",
        timeout=LIVE,
    )
    page.get_by_role("button", name="Cancel job").click()  # the confirmation is accepted
    page.get_by_text("The job was cancelled.").wait_for()
    assert _status(page, job_id).text_content() == "cancelled"
    with dev.api() as api:
        assert api.get(f"/api/jobs/{job_id}").json()["job"]["status"] == "CANCELLED"


def test_admin_scales_to_zero_and_back(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *ADMIN)
    with dev.api() as api:
        api.post("/api/jobs", json={"type": "TEST", "inputPayload": {"id": -1}}).raise_for_status()
    page.goto(f"{dev.url}/admin/fleet")
    page.locator("#workers tbody tr").first.wait_for(timeout=LIVE)
    page.get_by_label("Desired workers").fill("0")
    page.get_by_role("button", name="Scale").click()
    page.wait_for_url(re.compile(r"notice=scaled"))
    assert page.locator("#desired-count").inner_text() == "0"
    page.locator("#no-workers").wait_for(timeout=LIVE)  # the manager stopped them
    page.get_by_label("Desired workers").fill("2")
    page.get_by_role("button", name="Scale").click()
    page.locator("#desired-count", has_text="2").wait_for()
    with dev.api() as api:
        body = {"type": "TEST", "inputPayload": {"id": -2}}
        api.post("/api/jobs", json=body).raise_for_status()
    page.locator("#workers tbody tr").first.wait_for(timeout=LIVE)  # and started one again


def test_create_and_revoke_an_api_key(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *ADMIN)
    page.goto(f"{dev.url}/admin/api-keys")
    name = f"ci-{secrets.token_hex(3)}"
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied.").wait_for()
    profile = f"{dev.url}/api/auth/profile"
    assert httpx.get(profile, headers={"X-API-Key": key}).status_code == 200
    page.get_by_role("button", name=f"Revoke {name}").click()
    playwright_api.expect(page.get_by_text(name)).to_have_count(0)
    assert httpx.get(profile, headers={"X-API-Key": key}).status_code == 401


def test_a_post_without_csrf_is_refused_and_logout_ends_the_session(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    form = {"type": "TEST", "input.id": "5"}
    refused = page.request.post(f"{dev.url}/jobs/new", form=form)
    assert refused.status == 403
    assert "CSRF" in refused.text()
    forged = page.request.post(f"{dev.url}/jobs/new", form=form, headers={"X-CSRF-TOKEN": "x"})
    assert forged.status == 403
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    page.goto(f"{dev.url}/")
    assert "/login" in page.url
    assert page.get_by_label("Password").is_visible()


def test_every_page_is_light_fast_and_accessible_at_both_widths(
    dev: Dev, desktop: Any, phone: Any
) -> None:
    with dev.api(researcher=True) as api:
        polygon = {"type": "POLYGON_STATS", "inputPayload": {"polygon": _polygon()}}
        job_id = api.post("/api/jobs", json=polygon).json()["jobId"]
        # The job's page is audited and shown with its result and files.
        wait_for(
            lambda: api.get(f"/api/jobs/{job_id}").json()["job"]["status"] == "SUCCEEDED",
            LIVE / 1000,
            "the polygon job to succeed",
        )
    for page, weights in (desktop, phone):
        visit(page, weights, f"{dev.url}/login", "login")
        login(page, dev.url, *RESEARCHER)
        visit(page, weights, f"{dev.url}/", "my-jobs")
        visit(page, weights, f"{dev.url}/jobs/new?type=POLYGON_STATS", "new-job")
        visit(page, weights, f"{dev.url}/jobs/{job_id}", "job")
        visit(page, weights, f"{dev.url}/usage", "usage")
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for()
        login(page, dev.url, *ADMIN)
        for name in ("fleet", "users", "api-keys"):
            visit(page, weights, f"{dev.url}/admin/{name}", name)
    renders = [m["first_render_ms"] for m in MEASURED.values()]
    print(f"\nfirst render (ms) and weight (bytes) per page:\n{report()}")
    assert max(renders) < 1000, report()
    assert statistics.median(renders) < 300, report()


SURVEY_TYPE = """\
name: REEF_SURVEY
description: Counts fish along one transect.
inputSchema:
  type: object
  required: [site, transect]
  properties:
    site: {type: string, description: The site's name}
    transect:
      type: object
      required: [lengthM]
      properties:
        lengthM: {type: number}
        method: {enum: [visual, video]}
    observers: {type: array, items: {type: string}}
exampleInput: {site: Moore Reef, transect: {lengthM: 50}}
"""


def test_an_admin_registers_a_type_and_a_researcher_submits_its_form(
    dev: Dev, desktop: Any
) -> None:
    page, weights = desktop
    login(page, dev.url, *ADMIN)
    page.get_by_role("link", name="Job types", exact=True).click()
    page.get_by_role("link", name="Register a job type").click()
    page.wait_for_url(re.compile(r"/admin/job-types/new$"))
    visit(page, weights, page.url, "job-type-form")
    page.get_by_label("The type's document").fill(SURVEY_TYPE)
    page.get_by_role("button", name="Register").click()
    page.get_by_text("Registered as revision 1.").wait_for()
    visit(page, weights, f"{dev.url}/job-types/REEF_SURVEY", "job-type")
    visit(page, weights, f"{dev.url}/job-types", "job-types")
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()

    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/job-types/REEF_SURVEY")
    assert page.get_by_role("button", name="Retire").count() == 0
    page.get_by_role("link", name="New job of this type").click()
    page.get_by_label("site").fill("Moore Reef")
    page.get_by_label("transect.lengthM").fill("25")
    page.get_by_label("transect.method").select_option("video")
    page.get_by_label("observers").fill("ana\nbo")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+"))
    with dev.api(researcher=True) as api:
        job = api.get(f"/api/jobs/{job_id_from(page.url)}").json()["job"]
    assert job["input_payload"] == {
        "site": "Moore Reef",
        "transect": {"lengthM": 25.0, "method": "video"},
        "observers": ["ana", "bo"],
    }
