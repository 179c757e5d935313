"""Following a job's events when the stream drops: reconnect, then give up in bounded time.

The real API ends a stream only after a terminal state, so a scripted server plays a
connection that breaks early.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.client import ApiUnavailable, ShoalClient
from shoal_cli.follow import MAX_RECONNECTS, follow_job
from tests.shared.client.scripted_server import Reply, ScriptedServer, serve

PATH = "/api/jobs/7/events"


def frame(status: str, progress: float = 0.0) -> str:
    return f'event: status\ndata: {{"id": 7, "status": "{status}", "progress": {progress}}}\n\n'


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with serve() as scripted:
        yield scripted


def test_a_dropped_stream_is_opened_again_and_followed_to_the_end(
    server: ScriptedServer,
) -> None:
    server.on(
        "GET",
        PATH,
        Reply(chunks=[frame("IN_PROGRESS", 0.4)]),  # ends before the job does
        Reply(chunks=[frame("IN_PROGRESS", 0.8), frame("SUCCEEDED", 1.0)]),
    )
    seen: list[tuple[str, float]] = []
    pauses: list[float] = []
    with ShoalClient(server.url, api_key="k") as client:
        job = follow_job(
            client,
            7,
            lambda kind, job: seen.append((job["status"], job["progress"])),
            sleep=pauses.append,
        )
    assert job["status"] == "SUCCEEDED"
    assert seen == [("IN_PROGRESS", 0.4), ("IN_PROGRESS", 0.8), ("SUCCEEDED", 1.0)]
    assert server.paths() == [f"GET {PATH}", f"GET {PATH}"] and len(pauses) == 1


def test_a_stream_the_server_ends_is_resumed_from_its_last_event(server: ScriptedServer) -> None:
    stopping = 'event: error\nretry: 1000\ndata: {"status": 503, "message": "stopping"}\n\n'
    server.on(
        "GET",
        PATH,
        Reply(chunks=[frame("PENDING"), "id: 41\n" + frame("IN_PROGRESS", 0.4), stopping]),
        Reply(chunks=["id: 41\n" + frame("IN_PROGRESS", 0.4), "id: 43\n" + frame("SUCCEEDED")]),
    )
    seen: list[str] = []
    pauses: list[float] = []
    with ShoalClient(server.url, api_key="k") as client:
        job = follow_job(client, 7, lambda _, job: seen.append(job["status"]), sleep=pauses.append)
    assert job["status"] == "SUCCEEDED"
    assert seen == ["PENDING", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    [first, again] = server.requests
    assert "Last-Event-ID" not in first.headers and again.headers["Last-Event-ID"] == "41"


def test_a_stream_that_keeps_dropping_gives_up(server: ScriptedServer) -> None:
    server.on("GET", PATH, Reply(chunks=[frame("PENDING")]))
    pauses: list[float] = []
    with ShoalClient(server.url, api_key="k") as client, pytest.raises(ApiUnavailable) as caught:
        follow_job(client, 7, lambda kind, job: None, sleep=pauses.append)
    assert "lost the events of job 7" in caught.value.message
    assert len(server.requests) == MAX_RECONNECTS + 1
    assert pauses == sorted(pauses) and max(pauses) <= 5.0  # backs off, bounded
