"""The dashboard's webhooks pages through Flask's test client: the viewer's subscriptions
only (an admin's: everyone's), one subscription's deliveries with every answer, and a
stranger's refused."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login
from webapi.services import Services
from webapi.store import webhooks as store
from webapi.store.webhooks import Answer


def _subscribe(services: Services, user_id: int, url: str, **changes: Any) -> int:
    fields = {
        "url": url,
        "secret": "s" * 16,
        "events": ["job.ended"],
        "failures_only": True,
        "job_id": None,
        "batch_id": None,
        "workflow_id": None,
        "payload_format": "slack",
        **changes,
    }
    with services.transaction() as conn:
        return store.insert(conn, user_id, fields).id


def _pending_job(conn: Connection, user_id: int) -> int:
    job: int = conn.execute(
        text(
            "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts, lease_seconds)"
            " VALUES ('TEST', :u, '{}', 'h', 1, 30) RETURNING id"
        ),
        {"u": user_id},
    ).scalar_one()
    return job


def test_the_list_shows_the_viewers_own(
    client: FlaskClient, services: Services, make_user: MakeUser
) -> None:
    ana, _ = make_user("ana@example.org")
    bo, _ = make_user("bo@example.org")
    mine = _subscribe(services, ana, "https://hooks.example.org/ana")
    _subscribe(services, bo, "https://hooks.example.org/bo")
    login(client, "ana@example.org")
    page = client.get("/webhooks").text
    assert re.findall(r'<li id="webhook-(\d+)">', page) == [str(mine)]
    assert "https://hooks.example.org/ana" in page and "failures only" in page
    assert "hooks.example.org/bo" not in page and "s" * 16 not in page
    assert 'aria-current="page">Webhooks</a>' in page


def test_a_subscriptions_page_shows_each_delivery_and_its_answers(
    app: Flask, client: FlaskClient, services: Services, make_user: MakeUser
) -> None:
    ana, _ = make_user("ana@example.org")
    make_user("bo@example.org")
    hook = _subscribe(services, ana, "https://hooks.example.org/ana")
    with services.transaction() as conn:
        job = _pending_job(conn, ana)
        conn.execute(
            text("UPDATE jobs SET status = 'FAILED', error_message = 'bad' WHERE id = :id"),
            {"id": job},
        )
    [taken] = store.take_due(services.engine, hold_seconds=60, batch=10)
    store.settle(
        services.engine,
        taken.delivery,
        Answer(12, error="ConnectError: refused"),
        state="PENDING",
        delay=0,
    )
    [taken] = store.take_due(services.engine, hold_seconds=60, batch=10)
    answer = Answer(34, 200, '<b>"thanks"</b>')
    store.settle(services.engine, taken.delivery, answer, state="DELIVERED", delay=0)

    login(client, "ana@example.org")
    page = client.get(f"/webhooks/{hook}").text
    [row] = re.findall(r'<li id="delivery-\d+">(.*?)</ol>', page, re.S)
    assert f"job {job}</a>" in row and "FAILED" in row and "DELIVERED" in row
    assert "2 tries" in row
    assert "ConnectError: refused" in row and "(12 ms)" in row
    assert "200 <code" in row and "&lt;b&gt;&#34;thanks&#34;&lt;/b&gt;" in row

    other = app.test_client()
    login(other, "bo@example.org")
    stranger = other.get(f"/webhooks/{hook}")
    assert stranger.status_code == 403 and "belongs to another user" in stranger.text
    assert other.get("/webhooks/99999999999").status_code == 404


def test_a_workflow_subscription_shows_its_workflow_and_its_end(
    client: FlaskClient, services: Services, make_user: MakeUser
) -> None:
    ana, _ = make_user("ana@example.org")
    with services.transaction() as conn:
        job = _pending_job(conn, ana)
        steps = f'[{{"name": "only", "type": "TEST", "after": {{}}, "job_id": {job}}}]'
        flow = conn.execute(
            text(
                "INSERT INTO workflows (user_id, name, steps) VALUES (:u, 'w', CAST(:s AS jsonb))"
                " RETURNING id"
            ),
            {"u": ana, "s": steps},
        ).scalar_one()
        conn.execute(text("UPDATE jobs SET workflow_id = :f WHERE id = :j"), {"f": flow, "j": job})
    hook = _subscribe(
        services,
        ana,
        "https://hooks.example.org/ana",
        events=["workflow.ended"],
        workflow_id=flow,
    )
    with services.transaction() as conn:
        conn.execute(text("UPDATE jobs SET status = 'FAILED' WHERE id = :id"), {"id": job})
    login(client, "ana@example.org")
    assert f"workflow.ended · failures only · workflow {flow}" in client.get("/webhooks").text
    page = client.get(f"/webhooks/{hook}").text
    assert f'<dt>Workflow</dt><dd><a href="/workflows/{flow}">{flow}</a>' in page
    [row] = re.findall(r'<li id="delivery-\d+">(.*?)</ol>', page, re.S)
    assert f'<a href="/workflows/{flow}">workflow {flow}</a>' in row and "FAILED" in row
