"""A workflow's page in a real browser against ``shoal dev``: its graph drawn by the
server (a box per step, coloured by status, an arrow per dependency) follows the steps
live to the end, in the same document; audited and shot at both widths."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.browser.conftest import RESEARCHER, Dev
from tests.browser.helpers import login, visit

pytestmark = pytest.mark.slow
LIVE = 120_000  # ms: worker processes may have to start first


def _flow() -> dict[str, Any]:
    seed = secrets.randbelow(10**9)
    return {
        "name": "prepare, sweep, aggregate",
        "steps": [
            {"name": "prepare", "type": "TEST", "input": {"id": seed, "durationSeconds": 2}},
            {
                "name": "sweep",
                "type": "TEST",
                "inputs": [{"id": seed + n} for n in range(1, 4)],
                "after": {"prepare": "afterok"},
            },
            {
                "name": "aggregate",
                "type": "TEST",
                "input": {"id": seed + 10},
                "after": {"sweep": "afterany"},
            },
        ],
    }


def test_the_workflow_graph_follows_its_steps_live(dev: Dev, desktop: Any, phone: Any) -> None:
    with dev.api(researcher=True) as api:
        answer = api.post("/api/workflows", json=_flow())
        assert answer.status_code == 201, answer.text
        flow = answer.json()["workflow"]
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    page.goto(f"{dev.url}/workflows/{flow['id']}")
    steps = page.locator("svg.workflow-graph g.wf-step")
    assert steps.count() == 3
    assert page.locator("svg.workflow-graph path[marker-end]").count() == 2
    assert page.locator('g[data-step="aggregate"]').get_attribute("data-status") == "WAITING"
    page.evaluate("() => { window.sameDocument = true; }")
    page.wait_for_function(
        """() => document.querySelector('g[data-step="aggregate"]')
                   .getAttribute('data-status') === 'SUCCEEDED'""",
        timeout=LIVE,
    )
    assert page.locator("#workflow-status").text_content() == "succeeded"
    assert page.locator("#step-sweep .step-status").text_content() == "succeeded (3 succeeded)"
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    # The aggregate's own page says what it waited for.
    page.locator("#step-aggregate a").click()
    page.locator("#dependencies").wait_for()
    assert "ended, 3 succeeded (afterany)" in page.locator("#dependencies").text_content()
    for shown, weights in (desktop, phone):
        if shown is not page:
            login(shown, dev.url, *RESEARCHER)
        visit(shown, weights, f"{dev.url}/workflows/{flow['id']}", "workflow")
        overflow = shown.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than the screen"
