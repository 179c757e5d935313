"""Following a job's log: stored lines and live ones, each shown once, with no gap, across a
dropped stream (a scripted server plays the stream that breaks; the real API's side is in
tests/e2e/test_job_logs.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.client import ShoalClient, follow_logs
from shoal_cli.follow import follow_job
from tests.shared.client.scripted_server import Reply, ScriptedServer, serve

EVENTS = "/api/jobs/7/events"
LOGS = "/api/jobs/7/logs"


def status(name: str) -> str:
    return f'event: status\ndata: {{"id": 7, "status": "{name}", "progress": 0}}\n\n'


def line(seq: int, attempt: int = 1) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "seq": seq,
        "time": "2026-11-30T01:00:00+00:00",
        "level": "INFO",
        "stream": "stdout",
        "message": f"line {seq}",
    }


def log_event(*seqs: int) -> str:
    lines = [{k: v for k, v in line(seq).items() if k != "attempt"} for seq in seqs]
    return f"event: log\ndata: {json.dumps({'attempt': 1, 'lines': lines})}\n\n"


def page(*seqs: int) -> Reply:
    return Reply(200, {"lines": [line(seq) for seq in seqs], "next": None})


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with serve() as scripted:
        yield scripted


def test_each_line_once_across_pages_events_and_a_dropped_stream(server: ScriptedServer) -> None:
    server.on(
        "GET",
        EVENTS,
        Reply(chunks=[status("IN_PROGRESS"), "id: 9\n" + log_event(0, 1, 2)]),  # drops
        Reply(chunks=[status("IN_PROGRESS"), log_event(2, 3, 4), status("SUCCEEDED")]),
    )
    # Stored when the first stream began; then after the drop; at the reconnect; at the
    # end (line 5 was stored but its event missed: the last read brings it).
    server.on("GET", LOGS, page(0, 1), page(0, 1, 2), page(0, 1, 2), page(0, 1, 2, 3, 4, 5))
    statuses: list[str] = []
    pauses: list[float] = []
    with ShoalClient(server.url, api_key="k") as client:
        lines = list(
            follow_logs(
                client, 7, on_status=lambda job: statuses.append(job["status"]), sleep=pauses.append
            )
        )
    assert [(one["attempt"], one["message"]) for one in lines] == [
        (1, f"line {seq}") for seq in range(6)
    ]
    assert statuses[-1] == "SUCCEEDED" and len(pauses) == 1
    # Every stored read came after its stream had begun (nothing stored in between is lost).
    paths = [path.split("?")[0] for path in server.paths()]
    assert paths.index(f"GET {LOGS}") > paths.index(f"GET {EVENTS}")
    # The reconnect names the last event it got, so the stream resumes after it.
    [first, again] = [r for r in server.requests if r.path == EVENTS]
    assert "Last-Event-ID" not in first.headers and again.headers["Last-Event-ID"] == "9"


def test_watching_a_job_ignores_its_log_events(server: ScriptedServer) -> None:
    server.on("GET", EVENTS, Reply(chunks=[status("IN_PROGRESS"), log_event(0), status("FAILED")]))
    seen: list[str] = []
    with ShoalClient(server.url, api_key="k") as client:
        job = follow_job(client, 7, lambda kind, job: seen.append(kind))
    assert job["status"] == "FAILED" and seen == ["status", "status"]
