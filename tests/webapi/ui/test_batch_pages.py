"""The dashboard's batches: the list, a batch's page (counts, ETA, failed inputs,
cancel, the archive) and the batch on a job's page, through Flask's test client."""

from __future__ import annotations

import io
import re
import zipfile
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.jobs import conftest as jobs_fixtures
from tests.webapi.jobs.test_batch_pages import _fail
from tests.webapi.jobs.test_batch_status import _succeed, _take
from tests.webapi.ui.conftest import login

web_env = jobs_fixtures.web_env  # local storage for the results' files


@pytest.fixture
def ana(client: FlaskClient, make_user: MakeUser, auth_headers) -> SimpleNamespace:
    """An analyst logged in on the dashboard, with a token for the API too."""
    _, token = make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    return SimpleNamespace(headers=auth_headers(token), csrf=csrf)


@pytest.fixture
def worker(api_key) -> SimpleNamespace:
    return SimpleNamespace(headers=api_key(("WORKER",)).headers)


def _batch(client: FlaskClient, ana: SimpleNamespace, size: int, **extra: object) -> dict:
    body = {"type": "TEST", "inputs": [{"id": i} for i in range(size)], **extra}
    answer = client.post("/api/jobs/batch", json=body, headers=ana.headers)
    assert answer.status_code == 201, answer.json
    created: dict = answer.json
    return created


def _count(page: str, status: str) -> int | None:
    found = re.search(rf'id="count-{status}">([\d,]+)<', page)
    return int(found.group(1).replace(",", "")) if found else None


def test_the_batches_page_lists_mine_with_names_and_links(
    client: FlaskClient, ana: SimpleNamespace, make_user: MakeUser, auth_headers
) -> None:
    named = _batch(client, ana, 2, name="reef <sweep>")["batchId"]
    other = auth_headers(make_user("bob@example.org")[1])
    client.post("/api/jobs/batch", json={"type": "TEST", "inputs": [{"id": 9}]}, headers=other)
    page = client.get("/batches").text
    assert re.findall(r'<tr id="batch-(\d+)">', page) == [str(named)]
    assert f'href="/batches/{named}">Batch {named}</a>' in page
    assert "reef &lt;sweep&gt;" in page
    assert '<a href="/batches" aria-current="page">Batches</a>' in page
    assert client.get("/batches?cursor=nope").status_code == 400


def test_a_batch_page_shows_counts_eta_failed_inputs_and_cancels(
    client: FlaskClient, ana: SimpleNamespace, worker: SimpleNamespace
) -> None:
    batch = _batch(client, ana, 5, name="sweep 1")
    jobs = batch["jobIds"]
    first, second, _ = _take(client, worker, *jobs[:3])
    _succeed(client, worker, first)
    _fail(client, worker, second, "no <such> reef")
    url = f"/batches/{batch['batchId']}"
    page = client.get(url).text
    assert f"Batch {batch['batchId']} · <span" in page and "sweep 1" in page
    counts = {s: _count(page, s) for s in ("SUCCEEDED", "FAILED", "IN_PROGRESS", "PENDING")}
    assert counts == {"SUCCEEDED": 1, "FAILED": 1, "IN_PROGRESS": 1, "PENDING": 2}
    assert 'hx-trigger="every 2s"' in page  # polled while it runs
    assert re.search(r'id="batch-running">1<', page)
    assert not re.search(r'id="batch-eta">unknown', page)  # one job ended, one runs
    rows = re.findall(r"<tr><th scope=\"row\">(\d+)</th><td><a href=\"/jobs/(\d+)\">", page)
    assert rows == [("2", str(jobs[1]))] and "no &lt;such&gt; reef" in page
    cancelled = client.post(f"{url}/cancel", data={"csrf_token": ana.csrf})
    assert cancelled.status_code == 303
    page = client.get(cancelled.headers["Location"]).text
    assert "The batch&#39;s live jobs were cancelled." in page
    assert _count(page, "CANCELLED") == 3 and _count(page, "PENDING") is None
    assert 'hx-trigger="every 2s"' not in page and 'id="cancel-batch"' not in page
    archive = client.get(f"{url}/archive")
    assert archive.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as found:
        assert found.namelist() == []  # the succeeded job wrote no files


def test_a_job_page_names_its_batch(client: FlaskClient, ana: SimpleNamespace) -> None:
    batch = _batch(client, ana, 1, name="sweep 2")
    page = client.get(f"/jobs/{batch['jobIds'][0]}").text
    assert (
        f'<a id="job-batch" href="/batches/{batch["batchId"]}">Batch {batch["batchId"]}'
        " · sweep 2</a>"
    ) in page
    single = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 99}}, headers=ana.headers
    ).json["jobId"]
    assert 'id="job-batch"' not in client.get(f"/jobs/{single}").text


def test_another_users_batch_is_not_shown(
    client: FlaskClient, ana: SimpleNamespace, make_user: MakeUser, auth_headers
) -> None:
    other = auth_headers(make_user("bob@example.org")[1])
    answer = client.post(
        "/api/jobs/batch", json={"type": "TEST", "inputs": [{"id": 9}]}, headers=other
    )
    batch_id = answer.json["batchId"]
    for path in ("", "/archive"):
        assert client.get(f"/batches/{batch_id}{path}").status_code == 403
    refused = client.post(f"/batches/{batch_id}/cancel", data={"csrf_token": ana.csrf})
    assert refused.status_code == 403
    assert client.get(f"/batches/{batch_id + 1}").status_code == 404
    status = client.get(f"/api/jobs/batches/{batch_id}", headers=other).json
    assert status["counts"]["PENDING"] == 1
