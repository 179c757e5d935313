"""Bodies over SHOAL_MAX_BODY_BYTES get a JSON 413 and change nothing, on every kind of
route and however they are sent (Content-Length, chunked, or a length never sent).

tests/webapi/test_errors.py covers one login; here: register, jobs, results, polygons,
the fleet report, and the transfer tricks over a real HTTP server.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from flask.testing import FlaskClient

from tests.security.conftest import Caller, Cast, claim, submit
from tests.webapi.conftest import IssuedKey

LIMIT = 2048
FILLER = "x" * (LIMIT * 2)


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_MAX_BODY_BYTES": str(LIMIT)}


def test_oversized_bodies_are_413_on_every_kind_of_route(
    client: FlaskClient, cast: Cast, api_key: Callable[..., IssuedKey]
) -> None:
    manager = Caller(cast.admin.user_id, api_key(("MANAGER",), owner_id=cast.admin.user_id).headers)
    job_id = submit(client, cast.analyst)
    assignment = claim(client, cast.worker)["id"]
    for caller, method, url, body in [
        (None, "POST", "/api/auth/register", {"email": "big@example.org", "password": FILLER}),
        (cast.analyst, "POST", "/api/jobs", {"type": "TEST", "inputPayload": {"pad": FILLER}}),
        (
            cast.worker,
            "POST",
            f"/api/jobs/assignments/{assignment}/result",
            {"status": "SUCCEEDED", "resultPayload": {"pad": FILLER}},
        ),
        (cast.worker, "POST", f"/api/jobs/assignments/{assignment}/heartbeat", {"message": FILLER}),
        (cast.analyst, "POST", "/api/polygons", {"polygon": {"type": "Polygon", "pad": FILLER}}),
        (manager, "PUT", "/api/manager/fleet", {"workers": [], "holder": FILLER}),
    ]:
        headers = caller.headers if caller else {}
        response = client.open(url, method=method, json=body, headers=headers)
        assert response.status_code == 413, (url, response.status_code)
        assert set(response.json) == {"message"}, url
    # Nothing changed: no user, no second job, the assignment still live and silent.
    login = client.post("/api/auth/login", json={"email": "big@example.org", "password": "x"})
    assert login.status_code == 401
    jobs = client.get("/api/jobs", headers=cast.analyst.headers).json
    assert [job["id"] for job in jobs["jobs"]] == [job_id]
    job = client.get(f"/api/jobs/{job_id}", headers=cast.analyst.headers).json["job"]
    assert (job["status"], job["progress_message"]) == ("IN_PROGRESS", None)


def test_a_chunked_body_is_cut_off_at_the_limit(
    live_url: str, http: httpx.Client, cast: Cast
) -> None:
    def chunks():  # no Content-Length: the server must count as it reads
        yield b'{"type": "TEST", "inputPayload": {"pad": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}}'

    response = http.post(
        f"{live_url}/api/jobs",
        content=chunks(),
        headers=cast.analyst.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert set(response.json()) == {"message"}
    jobs = http.get(f"{live_url}/api/jobs", headers=cast.analyst.headers).json()
    assert jobs["total"] == 0
    # Werkzeug stops at the limit without a word: a valid document there, with more
    # after it, must not pass as the whole body.
    whole = b'{"type": "TEST", "inputPayload": {"id": 1}}'
    padded = whole + b" " * (LIMIT - len(whole))
    cut = http.post(
        f"{live_url}/api/jobs",
        content=iter([padded, b"this goes past the limit"]),
        headers=cast.analyst.headers | {"Content-Type": "application/json"},
    )
    assert cut.status_code == 413
    small = http.post(
        f"{live_url}/api/jobs",
        content=iter([whole[:10], whole[10:]]),
        headers=cast.analyst.headers | {"Content-Type": "application/json"},
    )
    assert small.status_code == 200


def test_a_huge_declared_length_is_refused_without_waiting_for_the_body(
    live_url: str, cast: Cast
) -> None:
    url = urlsplit(live_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    started = time.monotonic()
    try:
        connection.putrequest("POST", "/api/jobs")
        for name, value in cast.analyst.headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10 * 1024**3))
        connection.endheaders()
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 413 and set(body) == {"message"}
    assert time.monotonic() - started < 5
