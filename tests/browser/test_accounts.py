"""The account pages in a real browser against ``shoal dev``: an admin creates a user and
sets their quota (and the quota is then in force, through the API); a researcher manages
their own API keys; the system account offers no Delete."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ADMIN, RESEARCHER, Dev, playwright_api, token_suffix
from tests.browser.helpers import login, visit

pytestmark = pytest.mark.slow


def test_an_admin_creates_a_user_and_sets_their_quota(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *ADMIN)
    page.goto(f"{dev.url}/admin/users")
    email = f"sweeper-{token_suffix()}@example.org"
    form = page.get_by_role("region", name="Create a user")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill("sweeper-password")
    form.get_by_label("Weight").fill("3")
    form.get_by_role("button", name="Create user").click()
    row = page.locator("li[id^=user-]", has_text=email)
    row.wait_for()
    assert row.get_by_label("Weight").input_value() == "3"
    assert row.get_by_label("Max pending").input_value() == ""

    row.get_by_label("Max pending").fill("0")
    row.get_by_label("Max running").fill("2")
    row.get_by_role("button", name=f"Save quota of {email}").click()
    playwright_api.expect(
        page.locator("li[id^=user-]", has_text=email).get_by_label("Max pending")
    ).to_have_value("0")

    with dev.api() as api:
        [user] = [u for u in api.get("/api/users").json()["users"] if u["email"] == email]
    assert (user["roles"], user["weight"], user["maxPending"], user["maxRunning"]) == (
        ["ANALYST"],
        3,
        0,
        2,
    )
    login_body = {"email": email, "password": "sweeper-password"}
    token = httpx.post(f"{dev.url}/api/auth/login", json=login_body).json()["token"]
    refused = httpx.post(
        f"{dev.url}/api/jobs",
        json={"type": "TEST", "inputPayload": {"id": 1}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 429
    assert "(maxPending)" in refused.json()["message"]

    system = page.locator("li[id^=user-]", has_text="manager@shoal.local")
    assert "system account" in system.inner_text()
    assert system.get_by_role("button", name=re.compile("^Delete")).count() == 0
    researcher = page.locator("li[id^=user-]", has_text=RESEARCHER[0])
    assert researcher.get_by_role("button", name=re.compile("^Delete")).count() == 1


def test_a_researcher_creates_and_revokes_their_own_key(dev: Dev, desktop: Any) -> None:
    page, _ = desktop
    login(page, dev.url, *RESEARCHER)
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(re.compile(r"/admin/api-keys$"))
    assert page.get_by_label("Acts as").count() == 0  # an admin's choice only
    name = f"laptop-{token_suffix()}"
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").input_value()
    profile = httpx.get(f"{dev.url}/api/auth/profile", headers={"X-API-Key": key}).json()
    assert (profile["user"]["email"], profile["user"]["roles"]) == (RESEARCHER[0], ["ANALYST"])
    assert page.locator("li[id^=key-]").count() == 1  # not the dev keys of the manager
    page.get_by_role("button", name=f"Revoke {name}").click()
    playwright_api.expect(page.get_by_text(name)).to_have_count(0)
    gone = httpx.get(f"{dev.url}/api/auth/profile", headers={"X-API-Key": key})
    assert gone.status_code == 401


def test_the_account_pages_at_both_widths(dev: Dev, desktop: Any, phone: Any) -> None:
    with dev.api() as api:
        researcher = next(
            u for u in api.get("/api/users").json()["users"] if u["email"] == RESEARCHER[0]
        )
        api.post(
            "/api/auth/api-keys",
            json={"name": "analysis laptop", "roles": ["ANALYST"], "ownerId": researcher["id"]},
        ).raise_for_status()
    for page, weights in (desktop, phone):
        login(page, dev.url, *ADMIN)
        for name in ("users", "api-keys"):
            visit(page, weights, f"{dev.url}/admin/{name}", name)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name} is {overflow} px wider than the window"
