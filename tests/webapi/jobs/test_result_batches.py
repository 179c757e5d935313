"""Results in batches (``POST /api/jobs/assignments/results``) and results that carry
the next claim (``next``), through Flask's test client and a real threaded HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import urlparse

import httpx
from sqlalchemy import Engine, text

from tests.e2e.helpers import wait_for
from tests.support.metrics import sample, wait_for_sample

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
RESULTS = "/api/jobs/assignments/results"


def _claim(client, caller, **extra) -> dict:
    answer = client.post("/api/jobs/claim", json=CLAIM | extra, headers=caller.headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def _statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, status FROM jobs")).all())


def _result_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM job_results")).scalar_one()


def test_each_result_is_answered_as_the_single_route_would(
    client, worker, analyst, api_key, submit, services
) -> None:
    for n in range(5):
        submit({"id": n})
    other = api_key(("WORKER",))
    theirs = client.post("/api/jobs/claim", json=CLAIM, headers=other.headers).json
    mine = _claim(client, worker, maxJobs=4)["claims"]
    cancelled = mine[2]["assignment"]["id"]
    stopped = client.post(f"/api/jobs/{mine[2]['job']['id']}/cancel", headers=analyst.headers)
    assert stopped.status_code == 200
    asked = [
        {"assignmentId": mine[0]["assignment"]["id"], "status": "SUCCEEDED", "resultPayload": {}},
        {"assignmentId": theirs["assignment"]["id"], "status": "SUCCEEDED", "resultPayload": {}},
        {"assignmentId": mine[1]["assignment"]["id"], "status": "SUCCEEDED",
         "resultPayload": {"unexpected": 1}},
        {"assignmentId": cancelled, "status": "FAILED", "error": "late"},
        {"assignmentId": 999_999, "status": "SUCCEEDED", "resultPayload": {}},
        {"assignmentId": mine[3]["assignment"]["id"], "status": "FAILED", "error": "boom"},
    ]  # fmt: skip
    answer = client.post(RESULTS, json={"results": asked}, headers=worker.headers)
    assert answer.status_code == 200, answer.json
    answers = answer.json["results"]
    assert [a["assignmentId"] for a in answers] == [a["assignmentId"] for a in asked]
    assert [a["status"] for a in answers] == [200, 403, 400, 400, 404, 200]
    assert answers[0]["job"]["status"] == "SUCCEEDED"
    assert answers[5]["job"]["status"] == "FAILED" and answers[5]["job"]["error_message"] == "boom"
    assert "resultPayload.unexpected" in answers[2]["errors"]
    for sent, got in zip(asked[1:5], answers[1:5], strict=True):  # as the single route says it
        single = client.post(
            f"/api/jobs/assignments/{sent['assignmentId']}/result",
            json={k: v for k, v in sent.items() if k != "assignmentId"},
            headers=worker.headers,
        )
        assert (single.status_code, single.json["message"]) == (got["status"], got["message"])
    statuses = _statuses(services.engine)
    assert statuses[mine[0]["job"]["id"]] == "SUCCEEDED"
    assert statuses[mine[1]["job"]["id"]] == "IN_PROGRESS"
    assert statuses[mine[3]["job"]["id"]] == "FAILED"
    assert statuses[theirs["job"]["id"]] == "IN_PROGRESS"
    assert _result_rows(services.engine) == 1


def test_a_malformed_batch_is_refused_whole(client, worker, submit, services) -> None:
    for n in range(2):
        submit({"id": n})
    claims = _claim(client, worker, maxJobs=2)["claims"]
    good = {"assignmentId": claims[0]["assignment"]["id"], "status": "SUCCEEDED"}
    refused = {
        "results": ([good] * 51, "results"),
        "twice": ([good, good], "appears more than once"),
        "no status": ([good, {"assignmentId": claims[1]["assignment"]["id"]}], "status"),
        "empty": ([], "results"),
    }
    for results, named in refused.values():
        answer = client.post(RESULTS, json={"results": results}, headers=worker.headers)
        assert answer.status_code == 400 and named in json.dumps(answer.json), answer.json
    bad_next = {"results": [good], "next": CLAIM | {"maxJobs": 51}}
    answer = client.post(RESULTS, json=bad_next, headers=worker.headers)
    assert answer.status_code == 400 and list(answer.json["errors"]) == ["next.maxJobs"]
    assert set(_statuses(services.engine).values()) == {"IN_PROGRESS"}
    assert _result_rows(services.engine) == 0


def test_a_result_without_next_is_answered_as_before(client, worker, submit) -> None:
    submit({"id": 1})
    claimed = _claim(client, worker)
    answer = client.post(
        f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert answer.status_code == 200 and set(answer.json) == {"job"}


def test_a_result_carries_the_next_claim(client, worker, submit, services) -> None:
    first, second = submit({"id": 1}), submit({"id": 2})
    claimed = _claim(client, worker)
    assert claimed["job"]["id"] == first
    answer = client.post(
        f"/api/jobs/assignments/{claimed['assignment']['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}, "next": CLAIM},
        headers=worker.headers,
    )
    assert answer.status_code == 200
    assert answer.json["job"]["id"] == first and answer.json["job"]["status"] == "SUCCEEDED"
    following = answer.json["next"]
    assert following["job"]["id"] == second and following["assignment"]["job_id"] == second
    answer = client.post(
        RESULTS,
        json={
            "results": [
                {
                    "assignmentId": following["assignment"]["id"],
                    "status": "SUCCEEDED",
                    "resultPayload": {},
                }
            ],
            "next": CLAIM | {"maxJobs": 5},
        },
        headers=worker.headers,
    )
    assert answer.status_code == 200 and answer.json["results"][0]["status"] == 200
    assert answer.json["next"] is None  # nothing left, and no wait asked for
    assert _statuses(services.engine) == {first: "SUCCEEDED", second: "SUCCEEDED"}


def _metrics(live_url: str) -> str:
    return httpx.get(f"{live_url}/metrics").text


def test_a_batch_waits_for_its_next_claims_like_the_claim_route(
    live_url, client, worker, submit
) -> None:
    submit({"id": 1})
    claimed = _claim(client, worker)
    body = {
        "results": [
            {
                "assignmentId": claimed["assignment"]["id"],
                "status": "SUCCEEDED",
                "resultPayload": {},
            }
        ],
        "next": CLAIM | {"maxJobs": 3, "waitSeconds": 20},
    }
    answers: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{live_url}{RESULTS}", json=body, headers=worker.headers, timeout=30)
        )
    )
    asking.start()
    wait_for_sample(lambda: _metrics(live_url), "shoal_waiting_claims", 1)
    later = submit({"id": 2})
    asking.join(30)
    [answer] = answers
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == 200
    assert [c["job"]["id"] for c in answer.json()["next"]["claims"]] == [later]


def test_a_result_whose_client_left_during_the_wait_keeps_the_result_and_takes_no_job(
    live_url, client, worker, submit, services
) -> None:
    first = submit({"id": 1})
    claimed = _claim(client, worker)
    url = urlparse(live_url)
    body = json.dumps(
        {"status": "SUCCEEDED", "resultPayload": {}, "next": CLAIM | {"waitSeconds": 20}}
    ).encode()
    head = [
        f"POST /api/jobs/assignments/{claimed['assignment']['id']}/result HTTP/1.1",
        "Host: test",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in worker.headers.items()),
    ]
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    wait_for_sample(lambda: _metrics(live_url), "shoal_waiting_claims", 1)
    sock.close()
    later = submit({"id": 2})
    gone = "shoal_claims_for_gone_clients_total"
    wait_for(
        lambda: sample(_metrics(live_url), gone, {"stage": "skipped"}) == 1, 10, "the wait to end"
    )
    assert _statuses(services.engine) == {first: "SUCCEEDED", later: "PENDING"}
    assert _claim(client, worker)["job"]["id"] == later
