"""A sweep's page in a real browser against ``shoal dev``: the counts of a 2,000-input
batch change as its local workers finish jobs, without a reload; it is cancelled from
the page; the batches list and the batch page are audited and shot at both widths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import RESEARCHER, Dev
from tests.browser.helpers import login, visit
from tests.browser.test_dashboard import LIVE
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.slow
SIZE = 2_000
FAILING = (2, 5)  # inputs (from 1) whose job fails
PHONE_SHOT = {"width": 390, "height": 844}


def _count(page: Any, status: str) -> int:
    found = page.locator(f"#count-{status}")
    return int(found.text_content().replace(",", "")) if found.count() else 0


def _wait_count_above(page: Any, status: str, floor: int) -> None:
    page.wait_for_function(
        f"""() => {{
            const found = document.querySelector('#count-{status}');
            return found !== null && Number(found.textContent.replace(/,/g, '')) > {floor};
        }}""",
        timeout=LIVE,
    )


def test_a_sweeps_page_counts_live_and_cancels_it(dev: Dev, desktop: Any, phone: Any) -> None:
    inputs = [
        {"id": n, "durationSeconds": 0.5, **({"fail": True} if n in FAILING else {})}
        for n in range(1, SIZE + 1)
    ]
    with dev.api(researcher=True) as api:
        answer = api.post(
            "/api/jobs/batch", json={"type": "TEST", "name": "reef sweep", "inputs": inputs}
        )
        assert answer.status_code == 201, answer.text
        batch_id = answer.json()["batchId"]
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    page.get_by_role("link", name="Batches", exact=True).click()
    page.get_by_role("link", name=f"Batch {batch_id}", exact=True).click()
    page.wait_for_url(f"{dev.url}/batches/{batch_id}")
    page.evaluate("() => { window.sameDocument = true; }")
    assert _count(page, "PENDING") > SIZE - 10
    # The local workers start and take jobs: the counts change in place.
    _wait_count_above(page, "SUCCEEDED", 0)
    seen = _count(page, "SUCCEEDED")
    _wait_count_above(page, "SUCCEEDED", seen)
    _wait_count_above(page, "FAILED", len(FAILING) - 1)
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    rows = page.locator("#failed-inputs tbody tr th").all_text_contents()
    assert rows == [str(n) for n in FAILING]
    page.wait_for_function(
        "() => !document.querySelector('#batch-eta').textContent.startsWith('unknown')",
        timeout=LIVE,
    )
    for shot, weights, viewport in ((page, desktop[1], None), (phone[0], phone[1], PHONE_SHOT)):
        if viewport:
            shot.set_viewport_size(viewport)
            login(shot, dev.url, *RESEARCHER)
        visit(shot, weights, f"{dev.url}/batches", "batches")
        visit(shot, weights, f"{dev.url}/batches/{batch_id}", "batch")
    page.get_by_role("button", name="Cancel batch").click()  # the confirmation is accepted
    page.get_by_text("The batch's live jobs were cancelled.").wait_for()
    assert _count(page, "CANCELLED") > 0 and _count(page, "PENDING") == 0
    assert page.get_by_role("button", name="Cancel batch").count() == 0
    with dev.api(researcher=True) as api:
        status = wait_for(
            lambda: (s := api.get(f"/api/jobs/batches/{batch_id}").json())["finished"] == 1 and s,
            30,
            "every job of the batch to have ended",
        )
    assert status["counts"]["CANCELLED"] == _count(page, "CANCELLED")
    assert status["counts"]["PENDING"] == status["counts"]["IN_PROGRESS"] == 0
