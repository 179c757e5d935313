"""Reconnecting to a job's events with ``Last-Event-ID``: the log goes on where it stopped."""

from __future__ import annotations

import pytest

from tests.webapi.jobs.sse import RawStream

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
TIME = "2026-11-30T01:02:03.456789+00:00"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    # A lease longer than the test: the job's only status changes are the test's own.
    return {**web_env, "SHOAL_JOB_OVERRIDES": '{"TEST": {"leaseSeconds": 300}}'}


def _ship(client, worker, assignment_id: int, *seqs: int) -> None:
    lines = [
        {"seq": seq, "time": TIME, "level": "INFO", "stream": "stdout", "message": f"line {seq}"}
        for seq in seqs
    ]
    answer = client.post(
        f"/api/jobs/assignments/{assignment_id}/logs", json={"lines": lines}, headers=worker.headers
    )
    assert answer.json["stored"] == len(seqs), answer.json


def test_a_reconnect_with_last_event_id_gets_the_log_batches_it_missed_once(
    live_url, client, analyst, worker, submit
) -> None:
    job_id = submit({"id": 1})
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
    assignment = claimed["assignment"]["id"]
    url = f"{live_url}/api/jobs/{job_id}/events"
    first = RawStream(url, analyst.headers)
    status = first.next_event()
    _ship(client, worker, assignment, 0, 1)
    log = first.next_event()
    assert (status.event, log.event) == ("status", "log") and status.id and log.id
    first.close()  # the connection drops; two batches are stored meanwhile
    _ship(client, worker, assignment, 2, 3)
    _ship(client, worker, assignment, 4, 5)

    again = RawStream(url, {**analyst.headers, "Last-Event-ID": log.id})
    resumed = [again.next_event() for _ in range(3)]
    assert [(e.event, e.id) for e in resumed[:1]] == [("status", log.id)]  # its state first
    assert [[line["seq"] for line in e.data["lines"]] for e in resumed[1:]] == [[2, 3], [4, 5]]
    _ship(client, worker, assignment, 6)
    assert [line["seq"] for line in again.next_event().data["lines"]] == [6]  # no repeat
    again.close()
    # A stream opened afresh starts after the lines stored so far (those are for GET …/logs).
    fresh = RawStream(url, analyst.headers)
    assert fresh.next()[0] == "status"
    _ship(client, worker, assignment, 7)
    assert [line["seq"] for line in fresh.next_event().data["lines"]] == [7]
    fresh.close()


@pytest.mark.parametrize("sent", ["abc", "-1", "1" * 30, "٣"])
def test_a_last_event_id_the_stream_never_sent_is_400(client, analyst, submit, sent) -> None:
    job_id = submit({"id": 1})
    headers = {**analyst.headers, "Last-Event-ID": sent}
    answer = client.get(f"/api/jobs/{job_id}/events", headers=headers)
    assert answer.status_code == 400, answer.data
    assert answer.json["errors"] == {"Last-Event-ID": ["Not an event id."]}
