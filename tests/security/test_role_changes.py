"""A change of a user's roles reaches everything that acts for them, at once.

An API key never grants more than its owner holds now, and an event stream that
is already open ends when its caller may no longer see the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tests.security.conftest import Cast, claim, submit
from tests.webapi.conftest import MakeUser

# Without the re-check the stream would run until the job ends: stop looking by then.
STREAM_SECONDS = 10


def test_an_admin_key_stops_acting_as_admin_when_its_owner_is_demoted(
    live_url: str,
    http: httpx.Client,
    cast: Cast,
    make_user: MakeUser,
    auth_headers: Callable[[str], dict[str, str]],
) -> None:
    owner_id, token = make_user("admin-b@example.org", ("ADMIN",))
    made = http.post(
        f"{live_url}/api/auth/api-keys",
        json={"name": "b's admin key", "roles": ["ADMIN"]},
        headers=auth_headers(token),
    )
    assert made.status_code == 200, made.text
    key = {"X-API-Key": made.json()["key"]}
    assert http.get(f"{live_url}/api/users", headers=key).status_code == 200

    demoted = http.put(
        f"{live_url}/api/users/{owner_id}/roles",
        json={"roles": ["DEFAULT"]},
        headers=cast.admin.headers,
    )
    assert demoted.status_code == 200
    assert http.get(f"{live_url}/api/users", headers=auth_headers(token)).status_code == 403
    assert http.get(f"{live_url}/api/users", headers=key).status_code == 403
    new_admin = {"email": "mallory@example.org", "password": "x" * 16, "roles": ["ADMIN"]}
    assert http.post(f"{live_url}/api/users", json=new_admin, headers=key).status_code == 403
    users = http.get(f"{live_url}/api/users", headers=cast.admin.headers).json()["users"]
    assert "mallory@example.org" not in [user["email"] for user in users]

    # Given ADMIN back, the key is whole again: its roles were narrowed, not lost.
    restored = http.put(
        f"{live_url}/api/users/{owner_id}/roles",
        json={"roles": ["ADMIN"]},
        headers=cast.admin.headers,
    )
    assert restored.status_code == 200
    assert http.get(f"{live_url}/api/users", headers=key).status_code == 200


def test_an_open_event_stream_ends_when_its_caller_is_demoted(
    live_url: str, http: httpx.Client, client, cast: Cast
) -> None:
    job_id = submit(client, cast.analyst)
    assignment = claim(client, cast.worker)
    url = f"{live_url}/api/jobs/{job_id}/events"
    frames: list[tuple[str, dict[str, Any]]] = []
    with (
        httpx.Client(timeout=10) as streaming,
        streaming.stream("GET", url, headers=cast.analyst.headers) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.iter_lines()
        frames.append(next(_frames(lines)))  # the job as it is now
        demoted = http.put(
            f"{live_url}/api/users/{cast.analyst.user_id}/roles",
            json={"roles": ["DEFAULT"]},
            headers=cast.admin.headers,
        )
        assert demoted.status_code == 200
        beat = http.post(
            f"{live_url}/api/jobs/assignments/{assignment['id']}/heartbeat",
            json={"progress": 0.5, "message": "secret progress"},
            headers=cast.worker.headers,
        )
        assert beat.status_code == 200
        frames += list(_frames(lines))
    assert [kind for kind, _ in frames] == ["status", "error"], frames
    assert frames[-1][1]["status"] == 403
    job = http.get(f"{live_url}/api/jobs/{job_id}", headers=cast.analyst.headers)
    assert job.status_code == 403


def _frames(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every event until the stream ends, or for at most STREAM_SECONDS."""
    deadline = time.monotonic() + STREAM_SECONDS
    while (frame := _next_frame(lines)) is not None and time.monotonic() < deadline:
        yield frame


def _next_frame(lines: Iterator[str]) -> tuple[str, dict[str, Any]] | None:
    """The next event (keep-alive comments skipped); None when the stream ends."""
    kind, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data = line.partition(":")[2].strip()
        elif not line and kind:
            return kind, json.loads(data)
    return None
