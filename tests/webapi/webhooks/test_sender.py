"""The sender against a real HTTP receiver: each event arrives once per success, signed,
in order per job; a receiver that was down gets them when it is back; a delivery that
never succeeds fails after the give-up age; private targets are refused at send time,
also when the name resolved to a public address at create (DNS rebinding); two senders
never send one delivery twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.enums import JobStatus
from tests.support.queue import claimant
from tests.support.webhook_receiver import Receiver
from tests.webapi.conftest import MakeUser
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services
from webapi.webhooks.sender import WebhookSender
from webapi.webhooks.settings import WebhookSettings

Headers = Callable[[str], dict[str, str]]


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


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    with found.serving() as port:
        yield found, port


@pytest.fixture
def user(make_user: MakeUser) -> tuple[int, str]:
    return make_user()


def _subscribe(client: FlaskClient, token: str, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/webhooks",
        json={"url": url, "events": ["job.ended", "batch.ended"], **body},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.json
    return answer.json["webhook"]  # type: ignore[no-any-return]


def _submit(client: FlaskClient, token: str, *inputs: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for job_input in inputs:
        answer = client.post(
            "/api/jobs", json={"type": "TEST", "inputPayload": {"id": job_input}}, headers=headers
        )
        assert answer.status_code == 200, answer.json


def _run_jobs(app: Flask, user_id: int, statuses: list[JobStatus]) -> None:
    """Claim and end the oldest PENDING jobs, one per status, in order."""
    queue = app.extensions[JOBS].queue
    for status in statuses:
        claimed = queue.claim(["TEST"], claimant(user_id))
        assert claimed is not None
        queue.complete(
            claimed.assignment.id, claimant(user_id), status=status, result_payload={}, error="e"
        )


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


def test_each_event_arrives_once_signed_with_the_secret(
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    got, port = receiver
    user_id, token = user
    hook = _subscribe(client, token, f"http://127.0.0.1:{port}/hook?x=1")
    batch = client.post(
        "/api/jobs/batch",
        json={"type": "TEST", "inputs": [{"id": 1}, {"id": 2}]},
        headers={"Authorization": f"Bearer {token}"},
    ).json
    _submit(client, token, 3)
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUCCEEDED])
    _until(_all_delivered(services.engine, 4))
    received = got.ok()
    assert len(received) == 4 == len(got.received)
    assert all(r.signed_with(hook["secret"]) for r in received)
    assert not any(r.signed_with("whsec_another") for r in received)
    events = [(r.event["type"], r.headers["Shoal-Event"]) for r in received]
    assert sorted(events) == [("batch.ended", "batch.ended")] + [("job.ended", "job.ended")] * 3
    assert len({r.headers["Shoal-Event-Id"] for r in received}) == 4
    assert all(r.headers["Shoal-Event-Id"] == r.event["id"] for r in received)
    by_job = {
        r.event["data"]["job"]["id"]: r.event["data"]["job"]["status"]
        for r in received
        if "job" in r.event["data"]
    }
    assert by_job == {
        batch["jobIds"][0]: "SUCCEEDED",
        batch["jobIds"][1]: "FAILED",
        batch["jobIds"][1] + 1: "SUCCEEDED",
    }
    [ended] = [r.event["data"]["batch"] for r in received if "batch" in r.event["data"]]
    assert (ended["id"], ended["status"], ended["counts"]) == (
        batch["batchId"],
        "FAILED",
        {"FAILED": 1, "SUCCEEDED": 1},
    )

    listed = client.get(
        f"/api/webhooks/{hook['id']}/deliveries", headers={"Authorization": f"Bearer {token}"}
    ).json
    assert [d["state"] for d in listed["deliveries"]] == ["DELIVERED"] * 4
    assert [len(d["responses"]) for d in listed["deliveries"]] == [1] * 4
    first = listed["deliveries"][0]["responses"][0]
    assert (first["statusCode"], first["response"], first["error"]) == (200, "ok", None)
    assert listed["nextCursor"] is None


def test_a_jobs_later_event_waits_for_its_earlier_one(
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    """A job that ended, ran again and ended again: its second end is not sent before its
    first one got a 2xx, however often the first is refused."""
    got, port = receiver
    user_id, token = user
    refusals = iter([500, 503, 500])
    got.answer = lambda r: (
        next(refusals, 200) if r.event["data"]["job"]["status"] == "SUCCEEDED" else 200
    )
    _subscribe(client, token, f"http://127.0.0.1:{port}/", events=["job.ended"])
    _submit(client, token, 1)
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED])
    with services.engine.begin() as conn:  # run again (as an admin's retry would)
        conn.execute(text("UPDATE jobs SET status = 'PENDING', finished_at = NULL"))
    _run_jobs(app, user_id, [JobStatus.FAILED])
    _until(_all_delivered(services.engine, 2))
    statuses = [(r.event["data"]["job"]["status"], r.answered) for r in got.received]
    assert statuses == [
        ("SUCCEEDED", 500),
        ("SUCCEEDED", 503),
        ("SUCCEEDED", 500),
        ("SUCCEEDED", 200),
        ("FAILED", 200),
    ]


def test_a_receiver_that_was_down_gets_them_once_it_is_back(
    app: Flask, client: FlaskClient, services: Services, user: tuple[int, str]
) -> None:
    user_id, token = user
    got = Receiver()
    with got.serving() as port:
        pass  # a port nobody listens on now
    hook = _subscribe(client, token, f"http://127.0.0.1:{port}/")
    _submit(client, token, 1, 2)
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED])

    def tried_three_times() -> bool:
        with services.engine.connect() as conn:
            return (
                conn.execute(text("SELECT min(attempts) FROM webhook_deliveries")).scalar_one() >= 3
            )

    _until(tried_three_times)
    with got.serving(port):
        _until(_all_delivered(services.engine, 2))
    assert len(got.received) == 2 and len({r.headers["Shoal-Event-Id"] for r in got.received}) == 2
    listed = client.get(
        f"/api/webhooks/{hook['id']}/deliveries", headers={"Authorization": f"Bearer {token}"}
    ).json
    for delivery in listed["deliveries"]:
        *refused, answered = delivery["responses"]
        assert len(refused) >= 2 and all(
            r["statusCode"] is None and "ConnectError" in r["error"] for r in refused
        )
        assert answered["statusCode"] == 200


def test_a_delivery_never_answered_well_fails_after_the_give_up_age(
    web_env: dict[str, str],
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    got, port = receiver
    got.answer = lambda r: 500
    user_id, token = user
    _subscribe(client, token, f"http://127.0.0.1:{port}/", events=["job.ended"])
    _submit(client, token, 1)
    with services.engine.begin() as conn:  # as if the job had ended long ago: its event too
        conn.execute(
            text(
                "ALTER TABLE webhook_deliveries "
                "ALTER COLUMN created_at SET DEFAULT now() - interval '1 day'"
            )
        )
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED])
    _until(lambda: _states(services.engine) == ["FAILED"])
    assert [r.answered for r in got.received] == [500]


def _sender(services: Services, **changes: Any) -> WebhookSender:
    settings = WebhookSettings(allow_http=True, retry_base_seconds=0.05, **changes)
    return WebhookSender(services.engine, settings)


def test_a_private_target_is_refused_at_send_time(
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    """Subscribed while private targets were allowed; a sender that does not allow them
    posts nothing and records why."""
    app.extensions["shoal_webhooks"].stop()  # only the strict sender below sends
    got, port = receiver
    user_id, token = user
    _subscribe(client, token, f"http://localhost:{port}/")
    _submit(client, token, 1)
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED])
    assert _sender(services).run_once() == 1
    with services.engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM webhook_attempts")).scalar_one()
    assert error.startswith("refused: url: localhost resolves to ")
    assert "a loopback, link-local or private address" in error
    assert got.received == [] and _states(services.engine) == ["PENDING"]


@pytest.fixture
def _strict(_fast_local_webhooks: None, web_env: dict[str, str]) -> None:
    web_env["SHOAL_WEBHOOK_ALLOW_PRIVATE"] = "0"


@pytest.mark.usefixtures("_strict")
def test_dns_rebinding_to_a_private_address_is_refused(
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    """The name resolved to a public address when the subscription was made, to 127.0.0.1
    when it is sent: refused, since the addresses checked are the ones posted to."""
    got, port = receiver
    user_id, token = user
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    app.extensions["shoal_webhooks"].resolve = lambda host, port: next(answers)
    app.extensions["shoal_webhooks"].stop()  # only the sender below sends
    _subscribe(client, token, f"http://rebind.example:{port}/")
    _submit(client, token, 1)
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED])
    sender = _sender(services)
    sender.resolve = lambda host, port: next(answers)
    assert sender.run_once() == 1
    with services.engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM webhook_attempts")).scalar_one()
    assert error.startswith("refused: url: rebind.example resolves to 127.0.0.1")
    assert got.received == []


def test_two_senders_never_send_one_delivery_twice(
    app: Flask,
    client: FlaskClient,
    services: Services,
    user: tuple[int, str],
    receiver: tuple[Receiver, int],
) -> None:
    app.extensions["shoal_webhooks"].stop()
    got, port = receiver
    user_id, token = user
    _subscribe(client, token, f"http://127.0.0.1:{port}/", events=["job.ended"])
    _submit(client, token, *range(60))
    _run_jobs(app, user_id, [JobStatus.SUCCEEDED] * 60)
    senders = [_sender(services, allow_private=True) for _ in range(2)]
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
    ids = [r.headers["Shoal-Event-Id"] for r in got.received]
    assert len(ids) == 60 == len(set(ids))
    assert _states(services.engine) == ["DELIVERED"] * 60
