"""A job's event stream shows each attempt: a lease taken over by the next claim (the job
IN_PROGRESS again, never PENDING in between) is a status event of its own."""

from __future__ import annotations

from tests.support.queue import expire_leases
from tests.webapi.jobs.sse import RawStream

CLAIM = {"jobTypes": ["TEST"], "ecsClusterArn": "cluster"}


def test_a_takeover_by_the_next_claim_is_a_status_event(
    live_url, client, services, analyst, worker, submit
) -> None:
    job_id = submit({"id": 1})
    stream = RawStream(f"{live_url}/api/jobs/{job_id}/events", analyst.headers)
    assert stream.next()[1]["status"] == "PENDING"
    first = client.post(
        "/api/jobs/claim", json=CLAIM | {"ecsTaskArn": "one"}, headers=worker.headers
    )
    assert first.json["assignment"]["attempt"] == 1
    assert stream.next()[1]["attempts"] == 1
    expire_leases(services.engine)  # its worker stopped heartbeating
    second = client.post(
        "/api/jobs/claim", json=CLAIM | {"ecsTaskArn": "two"}, headers=worker.headers
    )
    assert second.json["assignment"]["attempt"] == 2
    kind, job = stream.next()  # without an event of its own: none until the job ends
    assert (kind, job["status"], job["attempts"]) == ("status", "IN_PROGRESS", 2)
    attempt = f"/api/jobs/assignments/{second.json['assignment']['id']}"
    done = {"status": "SUCCEEDED", "resultPayload": {}}
    assert client.post(f"{attempt}/result", json=done, headers=worker.headers).status_code == 200
    assert [(kind, job["status"]) for kind, job in stream.rest()] == [("status", "SUCCEEDED")]  # type: ignore[index]
