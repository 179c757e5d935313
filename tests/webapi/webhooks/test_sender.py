"""The sender against a real HTTP receiver: each event arrives once per success, signed,
in order per job; a receiver that was down gets them when it is back; a delivery that
never succeeds fails after the give-up age; private targets are refused at send time,
also when the name resolved to a public address at create (DNS rebinding); two senders
never send one delivery twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.enums import JobStatus
from tests.support.queue import claimant
from tests.support.webhook_receiver import Received, Receiver
from tests.webapi.conftest import MakeUser
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services
from webapi.webhooks.sender import WebhookSender
from webapi.webhooks.settings import WebhookSettings


@pytest.fixture(autouse=True)
def _fast_local_webhooks(web_env: dict[str, str]) -> None:
    web_env.update(
        SHOAL_WEBHOOK_ALLOW_PRIVATE="1",
        SHOAL_WEBHOOK_ALLOW_HTTP="1",
        SHOAL_WEBHOOK_POLL_SECONDS="0.05",
        SHOAL_WEBHOOK_RETRY_BASE_SECONDS="0.1",
        SHOAL_WEBHOOK_RETRY_MAX_SECONDS="0.3",
        SHOAL_WEBHOOK_TIMEOUT_SECONDS="5",
    )


@dataclass
class Scene:
    """The app, a user of it (id and bearer token) and a receiver listening on ``port``."""

    app: Flask
    client: FlaskClient
    engine: Engine
    user_id: int
    token: str
    got: Receiver
    port: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def subscribe(self, url: str | None = None, **body: Any) -> dict[str, Any]:
        url = url or f"http://127.0.0.1:{self.port}/"
        body = {"url": url, "events": ["job.ended", "batch.ended"], **body}
        answer = self.client.post("/api/webhooks", json=body, headers=self.headers)
        assert answer.status_code == 201, answer.json
        return answer.json["webhook"]  # type: ignore[no-any-return]

    def submit(self, *inputs: int) -> None:
        for job_input in inputs:
            body = {"type": "TEST", "inputPayload": {"id": job_input}}
            answer = self.client.post("/api/jobs", json=body, headers=self.headers)
            assert answer.status_code == 200, answer.json

    def run_jobs(self, statuses: list[JobStatus]) -> None:
        """Claim and end the oldest PENDING jobs, one per status, in order."""
        queue = self.app.extensions[JOBS].queue
        for status in statuses:
            claimed = queue.claim(["TEST"], claimant(self.user_id))
            assert claimed is not None
            queue.complete(
                claimed.assignment.id,
                claimant(self.user_id),
                status=status,
                result_payload={},
                error="e",
            )

    def deliveries(self, hook: dict[str, Any]) -> list[dict[str, Any]]:
        path = f"/api/webhooks/{hook['id']}/deliveries"
        found = self.client.get(path, headers=self.headers).json
        assert found["nextCursor"] is None
        return found["deliveries"]  # type: ignore[no-any-return]


@pytest.fixture
def scene(
    app: Flask, client: FlaskClient, services: Services, make_user: MakeUser
) -> Iterator[Scene]:
    got = Receiver()
    user_id, token = make_user()
    with got.serving() as port:
        yield Scene(app, client, services.engine, user_id, token, got, port)


def _states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(text("SELECT state FROM webhook_deliveries ORDER BY id")).scalars()
        )


def _until(check: Callable[[], bool], timeout: float = 60) -> None:
    """Until ``check()`` (a row, a request received) holds, looking every 20 ms."""
    waited = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        waited.wait(0.02)
    raise AssertionError("not reached in time")


def _all_delivered(engine: Engine, count: int) -> Callable[[], bool]:
    return lambda: _states(engine) == ["DELIVERED"] * count


def test_each_event_arrives_once_signed_with_the_secret(scene: Scene) -> None:
    hook = scene.subscribe(f"http://127.0.0.1:{scene.port}/hook?x=1")
    batch = scene.client.post(
        "/api/jobs/batch",
        json={"type": "TEST", "inputs": [{"id": 1}, {"id": 2}]},
        headers=scene.headers,
    ).json
    scene.submit(3)
    scene.run_jobs([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUCCEEDED])
    _until(_all_delivered(scene.engine, 4))
    received = scene.got.ok()
    assert len(received) == 4 == len(scene.got.received)
    assert all(r.signed_with(hook["secret"]) for r in received)
    assert not any(r.signed_with("whsec_another") for r in received)
    events = [(r.event["type"], r.headers["Shoal-Event"]) for r in received]
    assert sorted(events) == [("batch.ended", "batch.ended")] + [("job.ended", "job.ended")] * 3
    assert len({r.headers["Shoal-Event-Id"] for r in received}) == 4
    assert all(r.headers["Shoal-Event-Id"] == r.event["id"] for r in received)
    jobs = [r.event["data"]["job"] for r in received if "job" in r.event["data"]]
    first, second = batch["jobIds"]
    assert {job["id"]: job["status"] for job in jobs} == {
        first: "SUCCEEDED",
        second: "FAILED",
        second + 1: "SUCCEEDED",
    }
    [ended] = [r.event["data"]["batch"] for r in received if "batch" in r.event["data"]]
    assert (ended["id"], ended["status"], ended["counts"]) == (
        batch["batchId"],
        "FAILED",
        {"FAILED": 1, "SUCCEEDED": 1},
    )
    listed = scene.deliveries(hook)
    assert [d["state"] for d in listed] == ["DELIVERED"] * 4
    assert [len(d["responses"]) for d in listed] == [1] * 4
    answer = listed[0]["responses"][0]
    assert (answer["statusCode"], answer["response"], answer["error"]) == (200, "ok", None)


def test_a_jobs_later_event_waits_for_its_earlier_one(scene: Scene) -> None:
    """A job that ended, ran again and ended again: its second end is not sent before its
    first one got a 2xx, however often the first is refused."""
    refusals = iter([500, 503, 500])

    def answer(received: Received) -> int:
        succeeded = received.event["data"]["job"]["status"] == "SUCCEEDED"
        return next(refusals, 200) if succeeded else 200

    scene.got.answer = answer
    scene.subscribe(events=["job.ended"])
    scene.submit(1)
    scene.run_jobs([JobStatus.SUCCEEDED])
    with scene.engine.begin() as conn:  # run again (as an admin's retry would)
        conn.execute(text("UPDATE jobs SET status = 'PENDING', finished_at = NULL"))
    scene.run_jobs([JobStatus.FAILED])
    _until(_all_delivered(scene.engine, 2))
    statuses = [(r.event["data"]["job"]["status"], r.answered) for r in scene.got.received]
    assert statuses == [
        ("SUCCEEDED", 500),
        ("SUCCEEDED", 503),
        ("SUCCEEDED", 500),
        ("SUCCEEDED", 200),
        ("FAILED", 200),
    ]


def test_a_receiver_that_was_down_gets_them_once_it_is_back(scene: Scene) -> None:
    got = Receiver()
    with got.serving() as port:
        pass  # a port nobody listens on now
    hook = scene.subscribe(f"http://127.0.0.1:{port}/")
    scene.submit(1, 2)
    scene.run_jobs([JobStatus.SUCCEEDED, JobStatus.SUCCEEDED])

    def tried_three_times() -> bool:
        with scene.engine.connect() as conn:
            tries = conn.execute(text("SELECT min(attempts) FROM webhook_deliveries"))
            return bool(tries.scalar_one() >= 3)

    _until(tried_three_times)
    with got.serving(port):
        _until(_all_delivered(scene.engine, 2))
    assert len(got.received) == 2 and len({r.headers["Shoal-Event-Id"] for r in got.received}) == 2
    for delivery in scene.deliveries(hook):
        *refused, answered = delivery["responses"]
        assert len(refused) >= 2
        assert all(r["statusCode"] is None and "ConnectError" in r["error"] for r in refused)
        assert answered["statusCode"] == 200


def test_a_delivery_never_answered_well_fails_after_the_give_up_age(scene: Scene) -> None:
    scene.got.answer = lambda received: 500
    scene.subscribe(events=["job.ended"])
    scene.submit(1)
    with scene.engine.begin() as conn:  # as if the job had ended long ago: its event too
        conn.execute(
            text(
                "ALTER TABLE webhook_deliveries "
                "ALTER COLUMN created_at SET DEFAULT now() - interval '1 day'"
            )
        )
    scene.run_jobs([JobStatus.SUCCEEDED])
    _until(lambda: _states(scene.engine) == ["FAILED"])
    assert [r.answered for r in scene.got.received] == [500]


def _sender(engine: Engine, **changes: Any) -> WebhookSender:
    settings = WebhookSettings(allow_http=True, retry_base_seconds=0.05, **changes)
    return WebhookSender(engine, settings)


def _refusal(engine: Engine) -> str:
    with engine.connect() as conn:
        error: str = conn.execute(text("SELECT error FROM webhook_attempts")).scalar_one()
    return error


def test_a_private_target_is_refused_at_send_time(scene: Scene) -> None:
    """Subscribed while private targets were allowed; a sender that does not allow them
    posts nothing and records why."""
    scene.app.extensions["shoal_webhooks"].stop()  # only the strict sender below sends
    scene.subscribe(f"http://localhost:{scene.port}/")
    scene.submit(1)
    scene.run_jobs([JobStatus.SUCCEEDED])
    assert _sender(scene.engine).run_once() == 1
    error = _refusal(scene.engine)
    assert error.startswith("refused: url: localhost resolves to ")
    assert "a loopback, link-local or private address" in error
    assert scene.got.received == [] and _states(scene.engine) == ["PENDING"]


@pytest.fixture
def _strict(_fast_local_webhooks: None, web_env: dict[str, str]) -> None:
    web_env["SHOAL_WEBHOOK_ALLOW_PRIVATE"] = "0"


@pytest.mark.usefixtures("_strict")
def test_dns_rebinding_to_a_private_address_is_refused(scene: Scene) -> None:
    """The name resolved to a public address when the subscription was made, to 127.0.0.1
    when it is sent: refused, since the addresses checked are the ones posted to."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    app_sender = scene.app.extensions["shoal_webhooks"]
    app_sender.resolve = lambda host, port: next(answers)
    app_sender.stop()  # only the sender below sends
    scene.subscribe(f"http://rebind.example:{scene.port}/")
    scene.submit(1)
    scene.run_jobs([JobStatus.SUCCEEDED])
    sender = _sender(scene.engine)
    sender.resolve = lambda host, port: next(answers)
    assert sender.run_once() == 1
    assert _refusal(scene.engine).startswith("refused: url: rebind.example resolves to 127.0.0.1")
    assert scene.got.received == []


def test_two_senders_never_send_one_delivery_twice(scene: Scene) -> None:
    scene.app.extensions["shoal_webhooks"].stop()
    scene.subscribe(events=["job.ended"])
    scene.submit(*range(60))
    scene.run_jobs([JobStatus.SUCCEEDED] * 60)
    senders = [_sender(scene.engine, allow_private=True) for _ in range(2)]
    start = threading.Barrier(2)

    def drain(sender: WebhookSender) -> None:
        start.wait(timeout=10)
        while sender.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [r.headers["Shoal-Event-Id"] for r in scene.got.received]
    assert len(ids) == 60 == len(set(ids))
    assert _states(scene.engine) == ["DELIVERED"] * 60


def test_a_workflow_s_end_arrives_once_with_its_status(scene: Scene) -> None:
    steps = [
        {"name": "prepare", "type": "TEST", "input": {"id": 1}},
        {
            "name": "sweep",
            "type": "TEST",
            "inputs": [{"id": 2}, {"id": 3}],
            "after": {"prepare": "afterany"},
        },
    ]
    created = scene.client.post(
        "/api/workflows", json={"name": "demo", "steps": steps}, headers=scene.headers
    )
    flow = created.json["workflow"]["id"]
    hook = scene.subscribe(events=["workflow.ended"], workflowId=flow)
    scene.subscribe(events=["workflow.ended"], format="slack")
    scene.run_jobs([JobStatus.FAILED, JobStatus.SUCCEEDED, JobStatus.SUCCEEDED])
    _until(_all_delivered(scene.engine, 2))
    bodies = sorted((r.event for r in scene.got.ok()), key=lambda event: "text" in event)
    assert len(bodies) == 2 == len(scene.got.received)
    ended = bodies[0]["data"]["workflow"]
    assert (bodies[0]["type"], ended["id"], ended["name"], ended["status"]) == (
        "workflow.ended",
        flow,
        "demo",
        "FAILED",
    )
    assert ended["counts"] == {"FAILED": 1, "SUCCEEDED": 2}
    assert bodies[1] == {"text": f"shoal: workflow {flow} (demo) ended FAILED"}
    [listed] = scene.deliveries(hook)
    assert (listed["event"], listed["subjectId"], listed["status"]) == (
        "workflow.ended",
        flow,
        "FAILED",
    )
