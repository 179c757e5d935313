"""The heartbeat's reactions to each answer (a unit test: the server is scripted).

The real web API's side of cancellation and release is covered in test_runtime.py.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.client import ShoalClient
from tests.shared.client.scripted_server import Reply, ScriptedServer
from worker.context import Cancellation, CancelReason
from worker.heartbeat import MIN_INTERVAL, Heartbeat, heartbeat

PATH = "/api/jobs/assignments/4/heartbeat"
LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _beat(client: ShoalClient, expires_in: float | None, max_interval: float = 10) -> Heartbeat:
    expires = None if expires_in is None else datetime.now(UTC) + timedelta(seconds=expires_in)
    return Heartbeat(
        client,
        4,
        expires_at=expires,
        max_interval=max_interval,
        cancellation=Cancellation(),
        logger=LOG,
    )


def test_interval_is_a_third_of_the_lease_left_within_bounds(client: ShoalClient) -> None:
    assert _beat(client, 60, max_interval=5).interval() == 5
    assert _beat(client, 3).interval() == pytest.approx(1, abs=0.05)
    assert _beat(client, -10).interval() == MIN_INTERVAL
    assert _beat(client, None, max_interval=7).interval() == 7


def _beating(assignment_id: int) -> bool:
    return any(t.name == f"heartbeat-{assignment_id}" for t in threading.enumerate())


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(200, {"cancelled": True, "expires_at": None}), CancelReason.CANCELLED),
        (Reply(400, {"message": "Assignment 4: its lease expired"}), CancelReason.LEASE_LOST),
        (Reply(404, {"message": "Assignment 4 not found"}), CancelReason.LEASE_LOST),
        (Reply(403, {"message": "held by another worker"}), CancelReason.LEASE_LOST),
    ],
)
def test_answers_that_stop_the_job(
    server: ScriptedServer, client: ShoalClient, reply: Reply, reason: CancelReason
) -> None:
    server.on("POST", PATH, reply)
    cancellation = Cancellation()
    with heartbeat(
        client, 4, expires_at=None, max_interval=0.2, cancellation=cancellation, logger=LOG
    ):
        assert cancellation.event.wait(3)
        # No further beats after the switch: the beating thread ends by itself.
        deadline = time.monotonic() + 3
        while _beating(4) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _beating(4)
    assert cancellation.reason is reason
    assert len(server.requests) == 1


def test_an_unreachable_api_does_not_stop_the_job(
    server: ScriptedServer, client: ShoalClient
) -> None:
    ok = Reply(200, {"cancelled": False, "expires_at": _in(60)})
    server.on("POST", PATH, Reply(503), Reply(500), ok)
    cancellation = Cancellation()
    with heartbeat(
        client, 4, expires_at=None, max_interval=0.2, cancellation=cancellation, logger=LOG
    ) as beat:
        deadline = time.monotonic() + 5
        while beat.beats < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert beat.beats >= 2
    assert not cancellation.event.is_set()


def test_progress_brings_the_next_beat_forward(server: ScriptedServer, client: ShoalClient) -> None:
    server.on("POST", PATH, Reply(200, {"cancelled": False, "expires_at": _in(300)}))
    with heartbeat(
        client, 4, expires_at=None, max_interval=60, cancellation=Cancellation(), logger=LOG
    ) as beat:
        started = time.monotonic()
        beat.progress(0.5, "half way")
        while not server.requests and time.monotonic() - started < 3:
            time.sleep(0.02)
    assert server.requests[0].body == {"progress": 0.5, "message": "half way"}
    assert time.monotonic() - started < 2.5
