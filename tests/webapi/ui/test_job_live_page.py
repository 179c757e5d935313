"""A job's page through Flask's test client on a real database: its run time and why it
waits (the browser test follows the live updates)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login


def test_a_pending_job_says_why_it_waits_and_that_it_has_not_started(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    submitted = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "4"})
    page = client.get(submitted.headers["Location"]).get_data(as_text=True)
    assert re.search(
        r'id="pending-reason" data-code="NO_MANAGER">Why it waits: No manager has reported',
        page,
    )
    assert '<dd id="run-time">not started yet</dd>' in page
