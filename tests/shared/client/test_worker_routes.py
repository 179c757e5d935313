"""The typed helpers of the worker routes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from shared.client import ApiError, ApiUnavailable, ShoalClient
from tests.shared.client.scripted_server import Recorded, Reply, ScriptedServer

JOB = {"id": 5, "type": "TEST", "status": "IN_PROGRESS", "input_payload": {"id": 1}}
ASSIGNMENT = {
    "id": 9,
    "job_id": 5,
    "attempt": 1,
    "storage_scheme": "LOCAL",
    "storage_uri": "file:///tmp/r/test/5/attempt-1",
    "expires_at": "2030-01-02T03:04:05.250000Z",
}


def test_claim_sends_its_body_and_outlasts_the_long_poll(server: ScriptedServer) -> None:
    # The server holds the claim longer than the client's own timeout.
    server.on(
        "POST", "/api/jobs/claim", Reply(200, {"job": JOB, "assignment": ASSIGNMENT}, delay=1.2)
    )
    with ShoalClient(server.url, api_key="k", timeout=0.5) as client:
        claim = client.claim(["TEST"], task_arn="arn:task", cluster_arn="arn:c", wait_seconds=1)
    assert claim is not None
    assert (claim.job_id, claim.assignment_id, claim.job_type) == (5, 9, "TEST")
    assert claim.storage_uri == "file:///tmp/r/test/5/attempt-1"
    assert claim.expires_at == datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    assert server.requests[0].body == {
        "jobTypes": ["TEST"],
        "ecsTaskArn": "arn:task",
        "ecsClusterArn": "arn:c",
        "waitSeconds": 1,
        "maxJobs": 1,
    }
    assert len(server.requests) == 1


def test_claim_204_is_none(server: ScriptedServer) -> None:
    server.on("POST", "/api/jobs/claim", Reply(204))
    with ShoalClient(server.url, api_key="k") as client:
        assert client.claim(["TEST"], task_arn="t", cluster_arn="c", wait_seconds=0) is None


def test_heartbeat_answer(server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/api/jobs/assignments/9/heartbeat",
        Reply(200, {"cancelled": False, "expires_at": "2030-01-01T00:00:00+00:00"}),
        Reply(200, {"cancelled": True, "expires_at": None}),
    )
    with ShoalClient(server.url, api_key="k") as client:
        first = client.heartbeat(9, progress=0.5, message="half")
        second = client.heartbeat(9)
    assert first.cancelled is False
    assert first.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert second.cancelled is True and second.expires_at is None
    assert server.requests[0].body == {"progress": 0.5, "message": "half"}
    assert server.requests[1].body == {}


def test_submit_result_and_release(server: ScriptedServer) -> None:
    server.on("POST", "/api/jobs/assignments/9/result", Reply(200, {"job": JOB}))
    server.on("POST", "/api/jobs/assignments/9/release", Reply(400, {"message": "not live"}))
    with ShoalClient(server.url, api_key="k") as client:
        assert client.submit_result(9, "FAILED", {}, error="boom") == {"job": JOB}
        with pytest.raises(ApiError) as err:
            client.release(9)
    assert server.requests[0].body == {"status": "FAILED", "resultPayload": {}, "error": "boom"}
    assert err.value.status == 400


def test_download_urls_drops_unset_query_parameters(server: ScriptedServer) -> None:
    answer = {"job": {"id": 5}, "files": {"result.json": "http://x/y"}}
    server.on("GET", "/api/jobs/5/download", Reply(200, answer))
    with ShoalClient(server.url, api_key="k") as client:
        assert client.download_urls(5) == answer
        assert client.download_urls(5, expiry_seconds=60, filter_prefix="res") == answer
    assert server.requests[0].path == "/api/jobs/5/download"
    assert server.requests[1].path == "/api/jobs/5/download?expirySeconds=60&filterPrefix=res"


def test_aborting_long_polls_ends_a_waiting_claim_and_refuses_the_next(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    held, release = threading.Event(), threading.Event()

    def hold(recorded: Recorded) -> Reply:
        held.set()
        release.wait(30)
        return Reply(204)

    server.on("POST", "/api/jobs/claim", hold)
    failures: list[ApiUnavailable] = []

    def claim(client: ShoalClient) -> None:
        try:
            client.claim(["TEST"], task_arn="t", cluster_arn="c", wait_seconds=20)
        except ApiUnavailable as error:
            failures.append(error)

    with ShoalClient(server.url, api_key="k") as client:  # retries by default
        waiting = threading.Thread(target=claim, args=(client,))
        waiting.start()
        assert held.wait(10)
        client.abort_long_polls()
        waiting.join(10)
        ended = not waiting.is_alive()
        release.set()
        claim(client)
    assert ended and len(failures) == 2
    assert server.paths() == ["POST /api/jobs/claim"]  # the next one never left
    assert not [r for r in caplog.records if r.__dict__.get("action") == "api_retry"]


def test_a_type_revision_is_read_by_name_and_number(server: ScriptedServer) -> None:
    doc = {"name": "MY_MODEL", "revision": 3, "run": {"command": ["model"]}, "source": "registered"}
    server.on("GET", "/api/job-types/MY_MODEL/revisions/3", Reply(200, doc))
    server.on(
        "GET",
        "/api/job-types/MY_MODEL/revisions/4",
        Reply(404, {"message": "Job type MY_MODEL has no revision 4"}),
    )
    with ShoalClient(server.url, api_key="k") as client:
        assert client.job_type_revision("MY_MODEL", 3) == doc
        with pytest.raises(ApiError) as err:
            client.job_type_revision("MY_MODEL", 4)
        with pytest.raises(ApiError):
            client.job_type_revision("A/B?", 1)  # a name is one path segment, escaped
    assert (err.value.status, err.value.message) == (404, "Job type MY_MODEL has no revision 4")
    assert server.paths() == [
        "GET /api/job-types/MY_MODEL/revisions/3",
        "GET /api/job-types/MY_MODEL/revisions/4",
        "GET /api/job-types/A%2FB%3F/revisions/1",
    ]
