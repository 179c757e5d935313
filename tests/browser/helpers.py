"""What the browser tests do on every page: log in, audit accessibility, measure, shoot."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
# Set SHOAL_UPDATE_SCREENSHOTS=1 to rewrite the committed screenshots under docs/.
UPDATE = os.environ.get("SHOAL_UPDATE_SCREENSHOTS") == "1"
MAX_PAGE_BYTES = 150 * 1024
MEASURED: dict[str, dict[str, Any]] = {}


def login(page: Any, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await window.axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def first_render_ms(page: Any) -> float:
    """First contentful paint of the last full navigation, in milliseconds."""
    value = page.evaluate(
        """() => new Promise(resolve => {
            const found = () => performance.getEntriesByName('first-contentful-paint')[0];
            if (found()) { resolve(found().startTime); return; }
            new PerformanceObserver(() => found() && resolve(found().startTime))
                .observe({type: 'paint', buffered: true});
        })"""
    )
    return float(value)


def visit(page: Any, weights: Any, url: str, name: str) -> dict[str, Any]:
    """Load ``url`` afresh; check weight and accessibility; record the numbers; screenshot."""
    weights.by_type.clear()
    _without_cache(page)
    page.goto(url)
    page.wait_for_load_state("load")
    fcp = first_render_ms(page)
    total = sum(weights.by_type.values())
    assert total <= MAX_PAGE_BYTES, f"{name}: {total} bytes ({weights.by_type})"
    violations = serious_violations(page)
    assert not violations, f"{name}: {violations}"
    width = page.viewport_size["width"]
    MEASURED[f"{name}@{width}"] = {"bytes": total, "first_render_ms": round(fcp)}
    shoot(page, f"{name}-{'phone' if width < 600 else 'desktop'}")
    return MEASURED[f"{name}@{width}"]


def _without_cache(page: Any) -> None:
    """Every file is fetched and weighed on each visit, as on a first one."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})


def shoot(page: Any, name: str) -> None:
    target = SCREENSHOTS if UPDATE else Path(os.environ.get("TMPDIR", "/tmp")) / "shoal-shots"
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def report() -> str:
    return json.dumps(MEASURED, indent=1, sort_keys=True)


def job_id_from(url: str) -> int:
    found = re.search(r"/jobs/(\d+)", url)
    assert found, url
    return int(found.group(1))
