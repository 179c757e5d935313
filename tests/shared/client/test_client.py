"""The client against a scripted HTTP server (real sockets, canned answers, not the web API):
retries, errors, both auth styles, typed helpers."""

from __future__ import annotations

import socket
import time

import pytest

from shared.client import ApiError, ApiUnavailable, RetryPolicy, ShoalClient
from tests.shared.client.scripted_server import Recorded, Reply, ScriptedServer

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total_seconds=5)


def test_retries_503_then_succeeds(server: ScriptedServer) -> None:
    server.on("GET", "/api/jobs/queue", Reply(503), Reply(503), Reply(200, {"jobTypes": {}}))
    with ShoalClient(server.url, api_key="k", retry=FAST) as client:
        assert client.queue() == {}
    assert server.paths() == ["GET /api/jobs/queue"] * 3


def test_waits_out_a_429_with_its_retry_after(server: ScriptedServer) -> None:
    tokens = {"token": "t", "refreshToken": "r"}
    held = Reply(429, {"message": "Too many failed logins"}, headers={"Retry-After": "0.05"})
    server.on("POST", "/api/auth/login", held, Reply(200, tokens))
    server.on("GET", "/api/jobs/queue", Reply(200, {"jobTypes": {}}))
    policy = RetryPolicy(attempts=3, base_delay=0, max_delay=1, total_seconds=5)
    with ShoalClient(server.url, email="w@example.org", password="p", retry=policy) as client:
        assert client.queue() == {}
    logins = [recorded for recorded in server.requests if recorded.path == "/api/auth/login"]
    assert len(logins) == 2


def test_never_retries_a_400_and_parses_its_body(server: ScriptedServer) -> None:
    body = {"message": "inputPayload does not match", "errors": {"inputPayload.id": ["Missing."]}}
    server.on("POST", "/api/jobs", Reply(400, body))
    with ShoalClient(server.url, api_key="k", retry=FAST) as client, pytest.raises(ApiError) as err:
        client.submit_job("TEST", {})
    assert err.value.status == 400
    assert err.value.message == "inputPayload does not match"
    assert err.value.errors == {"inputPayload.id": ["Missing."]}
    assert len(server.requests) == 1


def test_gives_up_after_the_policy_attempts(server: ScriptedServer) -> None:
    server.on("GET", "/api/jobs/queue", Reply(503, {"message": "database down"}))
    with ShoalClient(server.url, retry=FAST) as client, pytest.raises(ApiUnavailable) as err:
        client.queue()
    assert len(server.requests) == FAST.attempts
    assert "database down" in err.value.message


def test_total_time_bounds_the_retries(server: ScriptedServer) -> None:
    server.on("GET", "/api/health", Reply(502))
    policy = RetryPolicy(attempts=100, base_delay=0.05, max_delay=0.05, total_seconds=0.3)
    started = time.monotonic()
    with ShoalClient(server.url, retry=policy) as client, pytest.raises(ApiUnavailable):
        client.health()
    assert time.monotonic() - started < 1.0
    assert 2 <= len(server.requests) < 100


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects
    client = ShoalClient(f"http://127.0.0.1:{port}", retry=FAST)
    with client, pytest.raises(ApiUnavailable) as err:
        client.health()
    assert "ConnectError" in err.value.message


def test_a_timeout_is_retried(server: ScriptedServer) -> None:
    server.on("GET", "/api/health", Reply(200, {"status": "ok"}, delay=1.0), Reply(200, {"ok": 1}))
    with ShoalClient(server.url, timeout=0.2, retry=FAST) as client:
        assert client.health() == {"ok": 1}
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("path", "submit"),
    [
        ("/api/jobs", lambda client, **key: client.submit_job("TEST", {"id": 1}, **key)),
        ("/api/jobs/batch", lambda client, **key: client.submit_batch("TEST", [{"id": 1}], **key)),
    ],
)
def test_a_submission_is_retried_under_one_idempotency_key(
    server: ScriptedServer, path: str, submit
) -> None:
    server.on("POST", path, Reply(503), Reply(503), Reply(200, {"jobId": 1}))
    with ShoalClient(server.url, email="w@example.org", password="p", retry=FAST) as client:
        server.on("POST", "/api/auth/login", Reply(200, {"token": "t", "refreshToken": "r"}))
        submit(client)
        submit(client, idempotency_key="mine")
    tries = [r.headers.get("Idempotency-Key") for r in server.requests if r.path == path]
    assert len(tries) == 4 and tries[0] and tries[0] == tries[1] == tries[2] != tries[3]
    assert tries[3] == "mine"
    assert all(r.headers["Authorization"] == "Bearer t" for r in server.requests if r.path == path)


def test_api_key_header(server: ScriptedServer) -> None:
    server.on("GET", "/api/jobs/7", Reply(200, {"job": {"id": 7, "status": "PENDING"}}))
    with ShoalClient(server.url, api_key="secret-key") as client:
        assert client.get_job(7) == {"id": 7, "status": "PENDING"}
    assert server.requests[0].headers["X-API-Key"] == "secret-key"
    assert "Authorization" not in server.requests[0].headers


def _bearer(token: str, body: object) -> object:
    """A responder: 200 with ``body`` for that bearer token, else 401."""

    def answer(request: Recorded) -> Reply:
        if request.headers.get("Authorization") == f"Bearer {token}":
            return Reply(200, body)
        return Reply(401, {"message": "Token expired"})

    return answer


def test_login_then_refresh_on_401(server: ScriptedServer) -> None:
    server.on("POST", "/api/auth/login", Reply(200, {"token": "t1", "refreshToken": "r1"}))
    server.on("POST", "/api/auth/token", Reply(200, {"token": "t2"}))
    server.on(
        "GET",
        "/api/jobs/queue",
        Reply(200, {"jobTypes": {"TEST": {}}}),
        _bearer("t2", {"jobTypes": {}}),
    )
    with ShoalClient(server.url, email="w@x.org", password="pw123456") as client:
        assert client.queue() == {"TEST": {}}  # first answer, with t1
        server.on("GET", "/api/jobs/queue", _bearer("t2", {"jobTypes": {"X": {}}}))
        assert client.queue() == {"X": {}}
    assert server.paths() == [
        "POST /api/auth/login",
        "GET /api/jobs/queue",
        "GET /api/jobs/queue",
        "POST /api/auth/token",
        "GET /api/jobs/queue",
    ]
    assert server.requests[0].body == {"email": "w@x.org", "password": "pw123456"}
    assert server.requests[3].body == {"refreshToken": "r1"}
    assert server.requests[4].headers["Authorization"] == "Bearer t2"


def test_refused_refresh_logs_in_again(server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/api/auth/login",
        Reply(200, {"token": "t1", "refreshToken": "r1"}),
        Reply(200, {"token": "t3", "refreshToken": "r3"}),
    )
    server.on("POST", "/api/auth/token", Reply(401, {"message": "Invalid refresh token"}))
    server.on("GET", "/api/jobs/queue", _bearer("t3", {"jobTypes": {}}))
    with ShoalClient(server.url, email="w@x.org", password="pw123456") as client:
        assert client.queue() == {}
    assert server.paths() == [
        "POST /api/auth/login",
        "GET /api/jobs/queue",
        "POST /api/auth/token",
        "POST /api/auth/login",
        "GET /api/jobs/queue",
    ]


def test_renews_only_once(server: ScriptedServer) -> None:
    server.on("POST", "/api/auth/login", Reply(200, {"token": "t1", "refreshToken": "r1"}))
    server.on("POST", "/api/auth/token", Reply(200, {"token": "t2"}))
    server.on("GET", "/api/jobs/queue", Reply(401, {"message": "Revoked"}))
    client = ShoalClient(server.url, email="w@x.org", password="pw123456")
    with client, pytest.raises(ApiError) as err:
        client.queue()
    assert err.value.status == 401 and err.value.message == "Revoked"
    assert server.paths().count("GET /api/jobs/queue") == 2


def test_bad_login_is_an_api_error(server: ScriptedServer) -> None:
    server.on("POST", "/api/auth/login", Reply(401, {"message": "Invalid credentials"}))
    client = ShoalClient(server.url, email="w@x.org", password="wrong-pass")
    with client, pytest.raises(ApiError) as err:
        client.queue()
    assert err.value.status == 401
    assert server.paths() == ["POST /api/auth/login"]
