"""Server-sent events: the parser, and the client over a real streamed response."""

from __future__ import annotations

import pytest

from shared.client import ShoalClient, parse_sse
from shared.client.errors import ApiError
from tests.shared.client.scripted_server import Reply, ScriptedServer


def test_parser_follows_the_standard() -> None:
    lines = [
        ": keep-alive",
        "event: status",
        'data: {"status": "IN_PROGRESS"}',
        "",
        "",  # a blank line with nothing pending dispatches nothing
        "data: first",
        "data:second",
        "id: 3",
        "",
        "event: progress",
        'data: {"progress": 0.5}',  # cut off: no blank line, so discarded
    ]
    events = list(parse_sse(lines))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("status", {"status": "IN_PROGRESS"}, None),
        ("message", "first\nsecond", "3"),
    ]


def test_client_streams_events_until_the_server_ends(server: ScriptedServer) -> None:
    chunks = [
        ": connected\n\n",
        'event: status\ndata: {"status": "IN_PROGRESS"}\n\n',
        'event: progress\r\ndata: {"progress": 0.5,\r\n',
        'data:  "message": "half"}\r\n\r\n',
        'event: status\ndata: {"status": "SUCCEEDED"}\n\n',
    ]
    server.on("GET", "/api/jobs/4/events", Reply(chunks=chunks, chunk_delay=0.05))
    with ShoalClient(server.url, api_key="k") as client:
        events = list(client.events(4))
    assert events == [
        {"event": "status", "data": {"status": "IN_PROGRESS"}, "id": None},
        {"event": "progress", "data": {"progress": 0.5, "message": "half"}, "id": None},
        {"event": "status", "data": {"status": "SUCCEEDED"}, "id": None},
    ]
    assert "Last-Event-ID" not in server.requests[0].headers
    assert server.requests[0].headers["X-API-Key"] == "k"


def test_an_error_event_raises_the_refusal(server: ScriptedServer) -> None:
    chunks = [
        'event: status\ndata: {"status": "IN_PROGRESS"}\n\n',
        'event: error\ndata: {"status": 403, "message": "Job 4 belongs to another user"}\n\n',
    ]
    server.on("GET", "/api/jobs/4/events", Reply(chunks=chunks))
    with ShoalClient(server.url, api_key="k") as client:
        events = client.events(4)
        assert next(events)["event"] == "status"
        with pytest.raises(ApiError) as refused:
            next(events)
    assert (refused.value.status, refused.value.message) == (403, "Job 4 belongs to another user")


def test_an_error_event_of_a_stopping_server_ends_the_stream(server: ScriptedServer) -> None:
    chunks = [
        'event: status\nid: 12\ndata: {"status": "IN_PROGRESS"}\n\n',
        'event: error\nretry: 1000\ndata: {"status": 503, "message": "The server is stopping"}\n\n',
    ]
    server.on("GET", "/api/jobs/4/events", Reply(chunks=chunks))
    with ShoalClient(server.url, api_key="k") as client:
        events = list(client.events(4, last_event_id="10"))  # no ApiError: open it again
    assert events == [{"event": "status", "data": {"status": "IN_PROGRESS"}, "id": "12"}]
    assert server.requests[0].headers["Last-Event-ID"] == "10"
