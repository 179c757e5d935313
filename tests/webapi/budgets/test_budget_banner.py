"""The dashboard's budget banner: on every page of a user in warning or past their
limit, and on none of a user under warnAt or without a budget."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.webapi.budgets.conftest import Caller, limit_of
from tests.webapi.ui.conftest import login
from webapi.store import budgets

PAGES = ("/", "/batches", "/job-types", "/webhooks", "/jobs/new")


def _set(client: FlaskClient, headers: dict[str, str], user_id: int, jobs: float, per_job) -> None:  # type: ignore[no-untyped-def]
    body = {"cost": None, "vcpuHours": limit_of(per_job, jobs), "warnAt": 0.5}
    assert (
        client.put(f"/api/budgets/users/{user_id}", json=body, headers=headers).status_code == 200
    )


def test_the_banner_shows_on_every_page_in_warning_or_past_the_limit(
    app: Flask,
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    per_job: budgets.Figures,
) -> None:
    submitted = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=analyst.headers
    )
    assert submitted.status_code == 200
    browser = app.test_client()
    login(browser, "analyst@example.org")
    for page in PAGES:
        assert 'class="budget' not in browser.get(page).text, page  # no budget

    _set(client, admin_headers, analyst.user_id, 4, per_job)  # 1 of 4: under warnAt
    assert 'class="budget' not in browser.get("/").text

    _set(client, admin_headers, analyst.user_id, 1.5, per_job)  # 1 of 1.5: warning
    for page in PAGES:
        shown = browser.get(page)
        assert shown.status_code == 200, page
        assert '<p class="budget warning" role="status">' in shown.text, page
        assert "Budget warning: you have committed 66% of your budget" in shown.text, page

    _set(client, admin_headers, analyst.user_id, 1, per_job)  # at the limit
    page = browser.get("/").text
    assert '<p class="budget exceeded"' in page and "new submissions are refused" in page
