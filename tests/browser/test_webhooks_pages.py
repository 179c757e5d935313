"""Webhooks in a real browser against ``shoal dev``: a researcher's subscription gets a
signed delivery from shoal dev's own web API when a job ends, and the Webhooks pages
show it (and a failing target's tries), light and accessible at both widths."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import RESEARCHER, Dev
from tests.browser.helpers import login, visit
from tests.e2e.helpers import wait_for
from tests.e2e.live import free_port
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    with found.serving() as port:
        yield found, port


def _deliveries(api: Any, hook: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(f"/api/webhooks/{hook}/deliveries").json()["deliveries"]
    return found


def test_a_delivery_from_shoal_dev_shows_on_the_webhooks_pages(
    dev: Dev, desktop: Any, phone: Any, receiver: tuple[Receiver, int]
) -> None:
    got, port = receiver
    with dev.api(researcher=True) as api:
        ok = api.post(
            "/api/webhooks",
            json={"url": f"http://127.0.0.1:{port}/shoal", "events": ["job.ended", "batch.ended"]},
        ).json()["webhook"]
        down = api.post(
            "/api/webhooks",
            json={
                "url": f"http://127.0.0.1:{free_port()}/nobody-listens",
                "events": ["job.ended"],
                "format": "slack",
            },
        ).json()["webhook"]
        job = api.post(
            "/api/jobs",
            json={"type": "TEST", "inputPayload": {"id": secrets.randbelow(10**9)}},
        ).json()["jobId"]
        got.wait_for(lambda received: len(received) == 1, 120)
        [received] = got.received
        assert received.signed_with(ok["secret"])
        assert received.event["data"]["job"]["id"] == job
        wait_for(lambda: _deliveries(api, ok["id"])[0]["state"] == "DELIVERED", 60, "the record")
        wait_for(lambda: _deliveries(api, down["id"])[0]["attempts"] >= 2, 60, "two tries")
    for page, weights in (desktop, phone):
        login(page, dev.url, *RESEARCHER)
        visit(page, weights, f"{dev.url}/webhooks", "webhooks")
        assert page.get_by_role("link", name=f"http://127.0.0.1:{port}/shoal").count() == 1
        visit(page, weights, f"{dev.url}/webhooks/{ok['id']}", "webhook-deliveries")
        delivery = page.locator(".deliveries > li").first
        assert "DELIVERED" in delivery.inner_text() and f"job {job}" in delivery.inner_text()
        page.goto(f"{dev.url}/webhooks/{down['id']}")
        assert "ConnectError" in page.locator(".deliveries > li").first.inner_text()
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for()
