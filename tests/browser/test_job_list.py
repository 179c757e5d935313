"""The jobs table in a real browser against ``shoal dev``: filtered and sorted, an
admin's all-users view, and a cache-hit job opened by the researcher it answered;
screenshots of the table at 1280 and 390 px."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from tests.browser.conftest import ADMIN, RESEARCHER, Dev, _page
from tests.browser.helpers import job_id_from, login, shoot

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


def _rows(page: Any) -> list[int]:
    ids = page.locator("tr.job-row").evaluate_all("rows => rows.map(r => r.id)")
    return [int(found.removeprefix("job-")) for found in ids]


def _submit(dev: Dev, *, researcher: bool, **body: Any) -> int:
    with dev.api(researcher=researcher) as api:
        answer = api.post("/api/jobs", json={"type": "TEST", **body})
        answer.raise_for_status()
        return int(answer.json()["jobId"])


def test_the_jobs_table_filtered_and_sorted(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    run = secrets.token_hex(3)
    ids = [
        _submit(dev, researcher=True, inputPayload={"id": secrets.randbelow(10**9)}, name=name)
        for name in (f"{run}-b", f"{run}-c", f"{run}-a", "other")
    ]
    login(page, dev.url, *RESEARCHER)
    page.get_by_label("Name starts with").fill(run)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(rf"name={run}"))
    assert _rows(page) == [ids[2], ids[1], ids[0]]
    page.get_by_role("link", name="Name").click()
    page.wait_for_url(re.compile(r"sort=name"))
    assert _rows(page) == [ids[2], ids[0], ids[1]]
    assert page.locator('th[aria-sort="ascending"]').text_content().strip().startswith("Name")
    assert page.get_by_label("Name starts with").input_value() == run  # the filter stays


def test_an_admin_sees_every_users_jobs(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    theirs = _submit(dev, researcher=True, inputPayload={"id": secrets.randbelow(10**9)})
    login(page, dev.url, *ADMIN)
    page.get_by_label("All users").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"allUsers=true"))
    assert page.get_by_role("heading", name="All jobs").is_visible()
    assert page.get_by_role("columnheader", name="User").is_visible()
    row = page.locator(f"#job-{theirs}")
    assert row.locator("td").last.text_content() != ""
    assert theirs in _rows(page)


def test_a_cache_hit_job_opens_for_the_researcher_it_answered(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    n = secrets.randbelow(10**9)
    theirs = _submit(dev, researcher=False, inputPayload={"id": n, "durationSeconds": 60})
    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/jobs/new?type=TEST")
    page.locator("#field-id").fill(str(n))
    page.locator("#field-durationSeconds").fill("60")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?notice=cached"))
    assert job_id_from(page.url) == theirs
    assert page.get_by_text("its result is reused").is_visible()
    assert page.get_by_role("heading", name=re.compile(rf"Job {theirs}")).is_visible()
    assert page.get_by_role("button", name="Cancel job").count() == 0
    page.get_by_role("link", name="My jobs", exact=True).click()
    page.wait_for_url(f"{dev.url}/")
    assert page.locator(f"#job-{theirs} .badge").text_content() == "reused"


def test_the_table_fits_at_both_widths(dev: Dev, desktop: Any, browser: Any) -> None:
    for n in range(3):
        _submit(
            dev,
            researcher=True,
            inputPayload={"id": secrets.randbelow(10**9)},
            name=f"reef survey {n}",
            tags={"site": "moore"},
        )
    phone = _page(browser, PHONE)
    try:
        for page, _ in (desktop, next(phone)):
            login(page, dev.url, *RESEARCHER)
            page.goto(f"{dev.url}/")
            width = page.viewport_size["width"]
            # Nothing sticks out of the page: a wide table scrolls in its own box.
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            shoot(page, f"my-jobs-{'phone' if width < 600 else 'desktop'}")
    finally:
        phone.close()
