"""Usage and cost in a real browser against ``shoal dev``: TEST jobs of known durations,
run by its local workers, show on the usage page, their job pages and their batch page
exactly the vCPU-seconds and cost that the API gives (which are the attempts' run times
× their size × the price); the usage page fits and is audited at both widths."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.browser.conftest import ADMIN, RESEARCHER, Dev
from tests.browser.helpers import login, visit
from tests.e2e.helpers import wait_for
from webapi.ui.figures import amount, money

pytestmark = pytest.mark.slow
DURATIONS = (1.0, 2.0, 3.0)
MILLIONTH, THOUSANDTH = Decimal("0.000001"), Decimal("0.001")


def _sweep(dev: Dev) -> tuple[int, list[int]]:
    seed = secrets.randbelow(10**9)
    inputs = [{"id": seed + n, "durationSeconds": d} for n, d in enumerate(DURATIONS)]
    with dev.api(researcher=True) as api:
        answer = api.post(
            "/api/jobs/batch", json={"type": "TEST", "name": "costed", "inputs": inputs}
        )
        assert answer.status_code == 201, answer.text
        batch_id, job_ids = answer.json()["batchId"], answer.json()["jobIds"]

        def ended() -> bool:
            counts = api.get(f"/api/jobs/batches/{batch_id}").json()["counts"]
            return bool(counts["SUCCEEDED"] == len(DURATIONS))

        wait_for(ended, 180, "the sweep's jobs to succeed")
    return batch_id, job_ids


def _shown(page: Any, selector: str) -> tuple[str, str]:
    """A figure's exact value and its text, as the page shows it."""
    found = page.locator(selector)
    return found.get_attribute("value"), found.inner_text()


def _same(page: Any, selector: str, value: float, *, cost: bool) -> None:
    exact, text = _shown(page, selector)
    assert Decimal(exact) == Decimal(str(value)), (selector, exact, value)
    assert text == (money(value) if cost else amount(value)), (selector, text)


def test_known_run_times_show_the_apis_exact_usage_and_cost(
    dev: Dev, desktop: Any, phone: Any
) -> None:
    batch_id, job_ids = _sweep(dev)
    with dev.api(researcher=True) as api:
        jobs = [api.get(f"/api/jobs/{job_id}").json()["job"] for job_id in job_ids]
        batch = api.get(f"/api/jobs/batches/{batch_id}").json()
        report = api.get("/api/usage", params={"by": "type"}).json()
        prices = _prices(api)
    # The API's figures are the attempts' own: run time (claim to end, at least the
    # sleep the input asked for) × the task's size × its capacity's price.
    exact = Decimal(0)
    for job, duration in zip(jobs, DURATIONS, strict=True):
        [attempt] = job["assignments"]
        run = _seconds(attempt["completed_at"]) - _seconds(attempt["created_at"])
        assert run >= Decimal(str(duration))
        assert Decimal(str(attempt["runSeconds"])) == run.quantize(THOUSANDTH)
        vcpu, memory = Decimal(str(attempt["vcpu"])), Decimal(str(attempt["memoryGb"]))
        vcpu_price, gb_price = prices[attempt["capacity"]]
        cost = run * (vcpu * vcpu_price + memory * gb_price) / 3600
        assert Decimal(str(attempt["cost"])) == cost.quantize(MILLIONTH) > 0
        assert Decimal(str(job["usage"]["vcpuSeconds"])) == (run * vcpu).quantize(THOUSANDTH)
        assert job["usage"]["cost"] == attempt["cost"] and job["usage"]["attempts"] == 1
        exact += run * vcpu
    # The batch's and the researcher's TEST usage are these three attempts.
    [test_row] = [row for row in report["rows"] if row["key"] == "TEST"]
    for usage in (batch["usage"], test_row, report["total"]):
        assert Decimal(str(usage["vcpuSeconds"])) == exact.quantize(THOUSANDTH)
        assert usage["attempts"] == len(DURATIONS)

    for page, weights in (desktop, phone):
        login(page, dev.url, *RESEARCHER)
        visit(page, weights, f"{dev.url}/usage", "usage")
        _same(page, "#total-cost", report["total"]["cost"], cost=True)
        _same(page, "#total-vcpu-seconds", report["total"]["vcpuSeconds"], cost=False)
        row = page.locator("#type-TEST")
        _same(row, "td[data-label=Cost] data", test_row["cost"], cost=True)
        _same(row, "td[data-label=vCPU-seconds] data", test_row["vcpuSeconds"], cost=False)
        _fits(page)
        page.goto(f"{dev.url}/jobs/{job_ids[-1]}")
        _same(page, "#job-cost", jobs[-1]["usage"]["cost"], cost=True)
        _same(page, "#job-vcpu-seconds", jobs[-1]["usage"]["vcpuSeconds"], cost=False)
        _same(page, "#attempt-1-cost", jobs[-1]["assignments"][0]["cost"], cost=True)
        _fits(page)
        page.goto(f"{dev.url}/batches/{batch_id}")
        _same(page, "#batch-cost", batch["usage"]["cost"], cost=True)
        _same(page, "#batch-vcpu-seconds", batch["usage"]["vcpuSeconds"], cost=False)
        _fits(page)
    page, weights = desktop
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    login(page, dev.url, *ADMIN)
    visit(page, weights, f"{dev.url}/usage", "usage-admin")
    assert page.get_by_role("heading", name="Top users").is_visible()
    assert page.locator("#top-users").get_by_text(RESEARCHER[0]).is_visible()
    page.goto(f"{dev.url}/job-types/TEST")
    assert page.locator("#estimate-basis").inner_text().startswith("From the median run time")


def _fits(page: Any) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
    for figure in page.locator("data.figure").all():
        box = figure.bounding_box()
        if box is not None:
            assert box["x"] + box["width"] <= page.viewport_size["width"], figure.inner_text()


def _seconds(iso: str) -> Decimal:
    """An API timestamp as exact seconds since the epoch (to its microsecond)."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return Decimal(int(at.timestamp())) + Decimal(at.microsecond) / 1_000_000


def _prices(api: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """Per capacity, the region in force's (price per vCPU-hour, price per GB-hour)."""
    answer = api.get("/api/usage/prices").json()
    return {
        p["capacity"]: (Decimal(str(p["vcpuHour"])), Decimal(str(p["gbHour"])))
        for p in answer["prices"]
        if p["region"] == answer["region"]
    }
