"""Many waiting, slow or silent clients on the real ``shoal webapi`` (gunicorn, gevent,
two processes): others are still served, the caps answer 429, the silent are cut off
with 408, and one new job wakes one waiting claimer per process, not all of them."""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, LiveApi, StartApi
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.slow
MANY = 64
CAPS = {"SHOAL_MAX_WAITING_CLAIMS": "16", "SHOAL_MAX_EVENT_STREAMS": "20"}
PROCESSES = 2


@contextmanager
def sockets(live_api: LiveApi, requests: list[bytes]) -> Iterator[list[socket.socket]]:
    """One connection per raw request, each sent at once; all closed at the end."""
    url = urlparse(live_api.url)
    opened = [socket.create_connection((url.hostname, url.port), timeout=10) for _ in requests]
    try:
        for sock, request in zip(opened, requests, strict=True):
            sock.sendall(request)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    if body and "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answered(opened: list[socket.socket], within: float) -> dict[socket.socket, bytes]:
    """What each connection answered within ``within`` seconds: its head, and its body
    when it has a length (a stream's first bytes otherwise)."""
    answers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        waiting = [s for s in opened if not _whole(answers.get(s, b""))]
        if not waiting:
            break
        for sock in select.select(waiting, [], [], max(deadline - time.monotonic(), 0))[0]:
            answers[sock] = answers.get(sock, b"") + sock.recv(65536)
    return answers


def _whole(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?i)content-length: (\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def health_within_a_second(live_api: LiveApi) -> None:
    started = time.monotonic()
    answer = httpx.get(f"{live_api.url}/api/health", timeout=1)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1


def metric(live_api: LiveApi, name: str) -> float:
    body = httpx.get(f"{live_api.url}/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", body, re.M))


def admin_token(live_api: LiveApi) -> str:
    login = httpx.post(
        f"{live_api.url}/api/auth/login",
        json={"email": ADMIN_EMAIL, "password": live_api.admin_password},
        timeout=10,
    )
    token: str = login.json()["token"]
    return token


def test_64_event_streams_from_one_caller_are_capped_and_others_are_served(
    start_api: StartApi,
) -> None:
    live_api = start_api(**CAPS)
    token = admin_token(live_api)
    with live_api.client() as client:
        job_id = client.submit_job("POLYGON_STATS", {"polygon": _square(0)})["jobId"]
    stream = request("GET", f"/api/jobs/{job_id}/events", {"Authorization": f"Bearer {token}"})
    with sockets(live_api, [stream] * MANY) as opened:
        answers = answered(opened, 10)
        health_within_a_second(live_api)
        wait_for(lambda: len(answers) == MANY, 1, "every stream to answer")
        codes = [status(answer) for answer in answers.values()]
        open_now = metric(live_api, "shoal_open_event_streams")
    refused = [a for a in answers.values() if status(a) == 429]
    assert set(codes) <= {200, 429}
    # At most 20 per process, and each process has had some of the 64.
    assert 20 <= codes.count(200) <= 20 * PROCESSES
    assert open_now == codes.count(200)
    assert all(b"Retry-After: " in a and b"SHOAL_MAX_EVENT_STREAMS" in a for a in refused)


def test_64_waiting_claims_from_one_worker_are_capped_and_others_are_served(
    start_api: StartApi,
) -> None:
    live_api = start_api(**CAPS)
    body = json.dumps(
        {"jobTypes": ["TEST"], "ecsTaskArn": "one", "ecsClusterArn": "c", "waitSeconds": 20}
    ).encode()
    headers = {"X-API-Key": live_api.worker_key, "Content-Type": "application/json"}
    with sockets(live_api, [request("POST", "/api/jobs/claim", headers, body)] * MANY) as opened:
        waiting = wait_for(
            lambda: metric(live_api, "shoal_waiting_claims") >= 16 or None, 10, "claims to wait"
        )
        answers = answered(opened, 3)
        health_within_a_second(live_api)
        waiting = metric(live_api, "shoal_waiting_claims")
    assert {status(a) for a in answers.values()} == {429}
    assert all(b"Retry-After: 1" in a for a in answers.values())
    # The rest wait: at most 16 per process.
    assert MANY - len(answers) == waiting
    assert 16 <= waiting <= 16 * PROCESSES


def test_64_silent_half_sent_bodies_are_cut_off_with_408(start_api: StartApi) -> None:
    """And every answer the server writes itself carries the security headers: the 408s,
    and gunicorn's answers to requests it cannot parse (a 414, a 400)."""
    live_api = start_api(
        SHOAL_BODY_TIMEOUT_SECONDS=3, SHOAL_HEADER_TIMEOUT_SECONDS=3, SHOAL_UI_SECURE_COOKIES=1
    )
    headers = {
        "X-API-Key": live_api.worker_key,
        "Content-Type": "application/json",
        "Content-Length": "100",
    }
    half = request("POST", "/api/jobs/claim", headers, b'{"jobTypes": ')
    silent_headers = b"GET /api/health HTTP/1.1\r\nHost: te"
    unparsable = [
        request("GET", "/" + "a" * 5000, {}),  # past gunicorn's request line limit: 414
        b"GET /api/health HTTP/1.1\r\nHost: test\r\nBad Name: x\r\n\r\n",  # 400
    ]
    with sockets(live_api, [half] * MANY + [silent_headers, *unparsable]) as opened:
        wait_for(
            # the 64, and the scrape that asks
            lambda: metric(live_api, "shoal_http_requests_in_flight") >= MANY + 1,
            10,
            "every request to wait for its body",
        )
        health_within_a_second(live_api)
        answers = answered(opened, 10)
    assert len(answers) == MANY + 3
    timed_out = [answers[sock] for sock in opened[: MANY + 1]]
    assert {status(a) for a in timed_out} == {408}
    assert all(b'"message"' in a for a in timed_out)
    assert [status(answers[sock]) for sock in opened[MANY + 1 :]] == [414, 400]
    # Both kinds of 408 (a body too slow: Flask; headers too slow: the server) and
    # gunicorn's own answers carry the security headers every answer does (HSTS too:
    # the deployment is HTTPS-only).
    for answer in answers.values():
        head = answer.split(b"\r\n\r\n")[0].lower() + b"\r\n"
        assert b"\r\nx-content-type-options: nosniff\r\n" in head, answer
        assert b"\r\nx-frame-options: deny\r\n" in head, answer
        assert b"\r\ncontent-security-policy: default-src 'none'; frame-ancestors" in head
        assert b"\r\nstrict-transport-security: max-age=31536000\r\n" in head, answer


def test_one_new_job_wakes_one_waiting_claimer_per_process(start_api: StartApi) -> None:
    live_api = start_api(SHOAL_CLAIM_RECHECK_SECONDS=60)
    waiters, jobs = 40, 8
    claim = {"jobTypes": ["TEST"], "ecsClusterArn": "c", "waitSeconds": 30}
    headers = {"X-API-Key": live_api.worker_key, "Content-Type": "application/json"}
    requests = [
        request(
            "POST",
            "/api/jobs/claim",
            headers,
            json.dumps({**claim, "ecsTaskArn": f"w{n}"}).encode(),
        )
        for n in range(waiters)
    ]
    with sockets(live_api, requests) as opened, live_api.client() as client:
        wait_for(lambda: metric(live_api, "shoal_waiting_claims") == waiters, 20, "the waiters")
        before = metric(live_api, "shoal_claims_run_total")
        for n in range(jobs):
            client.submit_job("TEST", {"id": n})
            wait_for(
                lambda n=n: metric(live_api, "shoal_waiting_claims") == waiters - n - 1,
                10,
                "the job to be claimed",
            )
        claims_run = metric(live_api, "shoal_claims_run_total") - before
        answers = answered(opened, 1)
    assert sorted(status(a) for a in answers.values()) == [200] * jobs
    # One claimer per process wakes for each job; the other 38 sleep on.
    assert jobs <= claims_run <= PROCESSES * jobs


def _square(x: float) -> dict[str, object]:
    ring = [[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]
    return {"type": "Polygon", "coordinates": [ring]}
