"""A result nested as deep as a worker can send it (a registered type without a result
schema takes any object) is read back by every reader: the API, the job's events and
the dashboard's job page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from werkzeug.test import TestResponse

from tests.webapi.ui.conftest import login
from webapi.ui.jobs import SHOWN_CHARS

CLAIM = {"jobTypes": ["FREE"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
FREE = {"inputSchema": {"type": "object"}, "exampleInput": {}}


def _nested(levels: int) -> str:
    """``levels`` objects, each in a list inside the next: 2 * levels - 1 levels of JSON
    (written out: Python's own encoder and decoder would recurse as deep)."""
    return '{"a": [' * (levels - 1) + '{"leaf": true}' + "]}" * (levels - 1)


@pytest.fixture
def store_result(client, admin, auth_headers, worker, submit) -> Callable[[str], tuple]:
    """A job of a registered type without a result schema, claimed; ``store(payload)``
    posts its result with ``payload`` (JSON text) and gives the job id and the answer."""
    registered = client.put("/api/job-types/FREE", json=FREE, headers=auth_headers(admin[1]))
    assert registered.status_code == 201, registered.text

    def store(payload: str) -> tuple[int, TestResponse]:
        job_id = submit({"id": 1}, "FREE")
        claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
        answer = client.post(
            f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
            data=f'{{"status": "SUCCEEDED", "resultPayload": {payload}}}',
            content_type="application/json",
            headers=worker.headers,
        )
        return job_id, answer

    return store


@pytest.mark.parametrize("levels", [300, 450])
def test_a_deeply_nested_result_is_read_back_whole(client, analyst, store_result, levels) -> None:
    """599 levels of JSON (as reported: every read was a 500), and 899, close to what the
    API parses at all: the API and the stream answer it whole, the dashboard's page its
    first SHOWN_CHARS characters."""
    payload = _nested(levels)
    job_id, stored = store_result(payload)
    assert stored.status_code == 200, stored.text
    read = client.get(f"/api/jobs/{job_id}", headers=analyst.headers)
    assert read.status_code == 200, read.text
    assert f'"result_payload":{payload.replace(" ", "")}' in read.text.replace(" ", "")
    events = client.get(f"/api/jobs/{job_id}/events", headers=analyst.headers)
    assert events.status_code == 200 and "event: status" in events.text
    login(client, "analyst@example.org")
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    # The page prints the result indented, up to SHOWN_CHARS: this deep, it says where it cut.
    shown = page.text.count("&#34;a&#34;: [")
    assert 0 < shown < levels - 1
    assert f"(cut at {SHOWN_CHARS:,} characters)" in page.text


def test_a_result_deeper_than_the_api_parses_is_refused_and_changes_nothing(
    client, analyst, store_result
) -> None:
    job_id, refused = store_result(_nested(1000))
    assert refused.status_code == 400
    assert refused.json["errors"] == {"body": ["Invalid JSON body: nested too deeply."]}
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert job["status"] == "IN_PROGRESS"
    assert [a["result"] for a in job["assignments"]] == [None]
