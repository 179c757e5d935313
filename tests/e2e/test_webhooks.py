"""Webhooks through the real platform: ``shoal webapi`` (gunicorn) and ``shoal worker``.

The outbox row is written with the job's end, so a web API killed (SIGKILL, every
process) after the end and before the send, or in the middle of the POST, loses
nothing: the next API process sends it (the second case twice, with one event id:
delivery is at least once)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text

from tests.e2e.conftest import LiveApi, StartApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for
from tests.support.processes import children
from tests.support.webhook_receiver import Received, Receiver

pytestmark = pytest.mark.slow

WEBHOOKS = {
    "SHOAL_WEBHOOK_ALLOW_PRIVATE": "1",
    "SHOAL_WEBHOOK_ALLOW_HTTP": "1",
    "SHOAL_WEBHOOK_TIMEOUT_SECONDS": "1",  # a taken delivery is held 8 s
    "SHOAL_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    with found.serving() as port:
        yield found, port


def _kill(api: LiveApi) -> None:
    """SIGKILL gunicorn and every process it serves with: nothing of it finishes."""
    for pid in {api.pid, *children(api.pid)}:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(api.pid, 0)


def _deliveries(engine: Engine) -> list[tuple[str, int, int]]:
    """(state, attempts, tries recorded) of each delivery."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.state, d.attempts, "
                "(SELECT count(*) FROM webhook_attempts t WHERE t.delivery_id = d.id) "
                "FROM webhook_deliveries d ORDER BY d.id"
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _run_one_job(api: LiveApi, worker_process: Callable[..., WorkerProcess], port: int) -> int:
    with api.client() as client:
        client.create_webhook({"url": f"http://127.0.0.1:{port}/hook", "events": ["job.ended"]})
        job_id: int = client.submit_job("TEST", {"id": 1, "durationSeconds": 0})["jobId"]
        worker_process("TEST", api=api)
        wait_for(lambda: job_in(client, job_id, "SUCCEEDED"), 60, "the job to succeed")
    return job_id


def test_an_api_killed_between_the_end_and_the_send_loses_nothing(
    start_api: StartApi,
    worker_process: Callable[..., WorkerProcess],
    engine: Engine,
    receiver: tuple[Receiver, int],
) -> None:
    got, port = receiver
    # This one's sender waits a minute before it first looks: it never sends.
    first = start_api(workers=2, **WEBHOOKS, SHOAL_WEBHOOK_POLL_SECONDS="60")
    job_id = _run_one_job(first, worker_process, port)
    assert _deliveries(engine) == [("PENDING", 0, 0)]  # written with the job's end
    _kill(first)
    start_api(workers=2, **WEBHOOKS)
    wait_for(lambda: _deliveries(engine) == [("DELIVERED", 1, 1)], 60, "the delivery")
    [received] = got.received
    job = received.event["data"]["job"]
    assert (job["id"], job["status"]) == (job_id, "SUCCEEDED")


def test_an_api_killed_during_the_post_sends_it_again_from_another(
    start_api: StartApi,
    worker_process: Callable[..., WorkerProcess],
    engine: Engine,
    receiver: tuple[Receiver, int],
) -> None:
    got, port = receiver
    arrived, release = threading.Event(), threading.Event()

    def hold_the_first(received: Received) -> int:
        if not arrived.is_set():
            arrived.set()
            release.wait(60)  # answers only once its sender is dead
        return 200

    got.answer = hold_the_first
    first = start_api(workers=1, **WEBHOOKS)
    _run_one_job(first, worker_process, port)
    assert arrived.wait(60), "the first POST never arrived"
    assert _deliveries(engine) == [("PENDING", 1, 0)]  # taken, its answer not recorded
    _kill(first)
    release.set()
    start_api(workers=1, **WEBHOOKS)
    # The hold of the dead process's take runs out; the new process takes it again.
    wait_for(lambda: _deliveries(engine) == [("DELIVERED", 2, 1)], 60, "the second try")
    ids = [r.headers["Shoal-Event-Id"] for r in got.received]
    assert len(ids) == 2 and ids[0] == ids[1]  # a receiver drops the repeat by its id
