"""The fleet page's last hour against ``shoal dev``, with real data: a sweep held pending
for a minute (the fleet paused), then run; the chart and its table show it, nothing is
cut off at either width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tests.browser.conftest import ADMIN, Dev
from tests.browser.helpers import login, visit
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.slow
SWEEP = 30


def _server_time(dev: Dev) -> datetime:
    """The web API's clock, from its Date header (what stamps the jobs)."""
    with dev.api() as api:
        return parsedate_to_datetime(api.get("/api/health").headers["Date"])


def test_a_sweep_pending_for_a_minute_shows_on_the_chart(
    dev: Dev, desktop: Any, phone: Any
) -> None:
    with dev.api() as admin:
        admin.post("/api/admin/scale", json={"desiredCount": 0}).raise_for_status()
    with dev.api(researcher=True) as api:
        inputs = [{"id": 9000 + n, "durationSeconds": 0} for n in range(SWEEP)]
        answer = api.post("/api/jobs/batch", json={"type": "TEST", "inputs": inputs})
        answer.raise_for_status()
        batch_id = answer.json()["batchId"]
        first = api.get(f"/api/jobs/{answer.json()['jobIds'][0]}").json()["job"]
    created = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    # Pending for a minute by the server's clock: the fleet is paused meanwhile.
    wait_for(lambda: _server_time(dev) >= created + timedelta(seconds=61), 90, "a minute to pass")
    with dev.api(researcher=True) as api:
        status = api.get(f"/api/jobs/batches/{batch_id}").json()
    assert status["counts"]["PENDING"] == SWEEP
    with dev.api() as admin:
        admin.post("/api/admin/scale", json={"desiredCount": 2}).raise_for_status()

    def finished() -> bool:
        with dev.api(researcher=True) as api:
            counts = api.get(f"/api/jobs/batches/{batch_id}").json()["counts"]
        return bool(counts["SUCCEEDED"] == SWEEP)

    wait_for(finished, 180, "the sweep to finish once the fleet may run")

    minute = created.astimezone(UTC).replace(second=0, microsecond=0)
    labels = [(minute + timedelta(minutes=n)).strftime("%H:%M") for n in (0, 1)]
    for page, weights in (desktop, phone):
        login(page, dev.url, *ADMIN)
        visit(page, weights, f"{dev.url}/admin/fleet", "fleet")
        page.get_by_text("The numbers").click()
        table = page.locator("#activity")
        heads = table.locator("thead th").all_inner_texts()
        rows = {
            row.locator("th").inner_text(): row.locator("td").all_inner_texts()
            for row in table.locator("tbody tr").all()
        }
        pending = dict(zip(heads[1:], rows["TEST pending"], strict=True))
        # Pending in the minute it was submitted and still at the start of the next.
        assert [pending[label] for label in labels] == [str(SWEEP), str(SWEEP)]
        assert sum(int(v) for v in rows["finished per minute"]) == SWEEP
        assert max(int(v) for v in rows["running"]) >= 1
        assert max(int(v) for v in rows["workers"] if v != "–") >= 1
        _nothing_cut_off(page)


def _nothing_cut_off(page: Any) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
    chart = page.locator("svg.chart").bounding_box()
    [last] = page.locator("svg.chart text").all()[-1:]
    box = last.bounding_box()
    assert box["x"] + box["width"] <= chart["x"] + chart["width"] + 0.5, (box, chart)
    # The by-type table shows every column within its card, with no scrolling.
    region = page.get_by_role("region", name="Jobs and workers by type")
    assert region.evaluate("e => e.scrollWidth - e.clientWidth") <= 0
    workers = page.locator("#type-TEST td").last
    assert workers.is_visible()
    cell = workers.bounding_box()
    card = region.bounding_box()
    assert cell["x"] + cell["width"] <= card["x"] + card["width"] + 0.5, (cell, card)
