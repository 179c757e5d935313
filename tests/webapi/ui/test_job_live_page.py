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


CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _finish(client: FlaskClient, worker: dict[str, str]) -> int:
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker)
    assert claimed.status_code == 200, claimed.json
    result = {"status": "SUCCEEDED", "resultPayload": {}}
    url = f"/api/jobs/assignments/{claimed.json['assignment']['id']}/result"
    assert client.post(url, json=result, headers=worker).status_code == 200
    return int(claimed.json["job"]["id"])


def _job_id(location: str) -> int:
    found = re.search(r"/jobs/(\d+)\?notice=(\w+)", location)
    assert found, location
    return int(found.group(1))


def test_run_again_from_a_finished_jobs_page(
    client: FlaskClient, make_user: MakeUser, api_key
) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    data = {"csrf_token": csrf, "type": "TEST", "input.id": "9", "input.durationSeconds": "2"}
    job_id = _job_id(client.post("/jobs/new", data=data).headers["Location"])
    assert 'id="run-again"' not in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    _finish(client, api_key(("WORKER",)).headers)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert re.search(
        r'<input type="checkbox" id="no-cache" name="no_cache" value="1" checked>', page
    )
    reused = client.post(f"/jobs/{job_id}/run-again", data={"csrf_token": csrf})
    assert reused.status_code == 303
    assert reused.headers["Location"] == f"/jobs/{job_id}?notice=cached"
    fresh = client.post(f"/jobs/{job_id}/run-again", data={"csrf_token": csrf, "no_cache": "1"})
    new_id = _job_id(fresh.headers["Location"])
    assert fresh.headers["Location"].endswith("notice=submitted") and new_id != job_id
    new = client.get(f"/jobs/{new_id}").get_data(as_text=True)
    assert "&#34;durationSeconds&#34;: 2" in new and "&#34;id&#34;: 9" in new


def test_the_new_job_form_prefilled_from_a_job_and_its_priority(
    client: FlaskClient, make_user: MakeUser, auth_headers
) -> None:
    _, token = make_user("ana@example.org")
    make_user("bo@example.org")
    csrf = login(client, "ana@example.org")
    data = {"csrf_token": csrf, "type": "TEST", "input.id": "12", "priority": "7"}
    job_id = _job_id(client.post("/jobs/new", data=data).headers["Location"])
    api = auth_headers(token)
    assert client.get(f"/api/jobs/{job_id}", headers=api).json["job"]["priority"] == 7
    form = client.get(f"/jobs/new?from={job_id}").get_data(as_text=True)
    assert re.search(
        r'id="field-id" name="input.id" type="text" inputmode="numeric" value="12"', form
    )
    assert 'id="field-priority" name="priority" type="text" inputmode="numeric" value="7"' in form
    assert client.get("/jobs/new?from=abc").status_code == 400
    refused = client.post("/jobs/new", data={**data, "input.id": "13", "priority": "500"})
    assert refused.status_code == 400
    assert 'id="field-priority-error">Must be a whole number from -100 to 100.' in (
        refused.get_data(as_text=True)
    )
    assert client.get("/api/jobs", headers=api).json["total"] == 1  # nothing created
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "bo@example.org")
    assert client.get(f"/jobs/new?from={job_id}").status_code == 403
