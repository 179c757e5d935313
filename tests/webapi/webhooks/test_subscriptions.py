"""``/api/webhooks``: subscriptions are created, listed, changed and deleted by their
owner; every bad input is a 400 naming the problem and creates nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser

Headers = Callable[[str], dict[str, str]]
URL = "https://hooks.example.org/shoal"


@pytest.fixture
def resolve_public(app: Any) -> None:
    """hooks.example.org (no such host) answers a public address; others resolve as usual."""
    sender = app.extensions["shoal_webhooks"]
    system = sender.resolve
    sender.resolve = lambda host, port: (
        ["93.184.215.14"] if host == "hooks.example.org" else system(host, port)
    )


def _create(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(
        "/api/webhooks", json={"url": URL, "events": ["job.ended"], **body}, headers=headers
    )


@pytest.mark.usefixtures("resolve_public")
def test_lifecycle_and_the_secret_shown_once(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user()
    headers = auth_headers(token)
    created = _create(client, headers, events=["job.ended", "batch.ended"], failuresOnly=True)
    assert created.status_code == 201, created.json
    hook = created.json["webhook"]
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["events"] == ["job.ended", "batch.ended"] and hook["failuresOnly"] is True
    assert hook["format"] == "json" and hook["jobId"] is None and hook["batchId"] is None
    shown = {k: v for k, v in hook.items() if k != "secret"}
    assert client.get("/api/webhooks", headers=headers).json == {"webhooks": [shown]}
    assert client.get(f"/api/webhooks/{hook['id']}", headers=headers).json == {"webhook": shown}

    changed = client.patch(
        f"/api/webhooks/{hook['id']}",
        json={"format": "slack", "failuresOnly": False},
        headers=headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["webhook"]["format"] == "slack"
    assert changed.json["webhook"]["failuresOnly"] is False
    assert changed.json["webhook"]["url"] == URL and "secret" not in changed.json["webhook"]

    given = _create(client, headers, secret="s" * 16)
    assert given.json["webhook"]["secret"] == "s" * 16

    assert client.delete(f"/api/webhooks/{hook['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/webhooks/{hook['id']}", headers=headers).status_code == 404
    assert [w["id"] for w in client.get("/api/webhooks", headers=headers).json["webhooks"]] == [
        given.json["webhook"]["id"]
    ]


@pytest.mark.usefixtures("resolve_public")
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"url": "ftp://hooks.example.org/x"}, "url: must start with https://"),
        ({"url": "http://hooks.example.org/x"}, "url: must start with https://"),
        ({"url": "https://user:pw@hooks.example.org/"}, "user name or password"),
        ({"url": "https:///nohost"}, "url: has no host"),
        ({"url": "https://127.0.0.1/"}, "resolves to 127.0.0.1, a loopback"),
        ({"url": "https://localhost:8443/"}, "a loopback, link-local or private address"),
        ({"url": "https://10.1.2.3/"}, "resolves to 10.1.2.3"),
        ({"url": "https://169.254.169.254/latest"}, "resolves to 169.254.169.254"),
        ({"url": "https://[::1]/"}, "resolves to ::1"),
        ({"url": "https://[::ffff:192.168.0.1]/"}, "resolves to ::ffff:192.168.0.1"),
        ({"url": "https://no-such-host.invalid/"}, "cannot be resolved"),
        ({"events": ["job.started"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["job.ended", "job.ended"]}, "events"),
        ({"secret": "short"}, "secret"),
        ({"format": "xml"}, "format"),
        ({"jobId": 1, "batchId": 1}, "give at most one"),
        ({"jobId": 999}, "Job 999 not found"),
        ({"batchId": 999}, "Batch 999 not found"),
        ({"workflowId": 999}, "Workflow 999 not found"),
        ({"batchId": 1, "workflowId": 1}, "give at most one"),
    ],
)
def test_bad_input_is_refused_naming_it(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Headers,
    body: dict[str, Any],
    named: str,
) -> None:
    _, token = make_user()
    headers = auth_headers(token)
    answer = _create(client, headers, **body)
    assert answer.status_code in (400, 404), answer.json
    assert named in str(answer.json)
    assert client.get("/api/webhooks", headers=headers).json == {"webhooks": []}


@pytest.mark.usefixtures("resolve_public")
def test_a_job_scope_is_a_job_the_caller_may_read_and_not_for_batches(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, owner = make_user()
    _, other = make_user()
    job = client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=auth_headers(owner)
    ).json["jobId"]
    refused = _create(client, auth_headers(other), jobId=job)
    assert (
        refused.status_code == 403
        and f"Job {job} belongs to another user" in refused.json["message"]
    )
    mixed = _create(client, auth_headers(owner), jobId=job, events=["job.ended", "batch.ended"])
    assert mixed.status_code == 400
    assert "batch.ended cannot be limited to one job" in mixed.json["message"]
    assert _create(client, auth_headers(owner), jobId=job).json["webhook"]["jobId"] == job


@pytest.mark.usefixtures("resolve_public")
def test_a_workflow_scope_is_the_caller_s_workflow_and_not_for_one_job_or_batch(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, owner = make_user()
    _, other = make_user()
    steps = [{"name": "only", "type": "TEST", "input": {"id": 1}}]
    created = client.post(
        "/api/workflows", json={"name": "w", "steps": steps}, headers=auth_headers(owner)
    )
    flow = created.json["workflow"]["id"]
    ended = ["workflow.ended"]
    refused = _create(client, auth_headers(other), workflowId=flow, events=ended)
    assert refused.status_code == 403
    assert f"Workflow {flow} belongs to another user" in refused.json["message"]
    job = created.json["workflow"]["steps"][0]["jobId"]
    one_job = _create(client, auth_headers(owner), jobId=job, events=ended)
    assert one_job.status_code == 400
    assert "workflow.ended cannot be limited to one job" in one_job.json["message"]
    hook = _create(client, auth_headers(owner), workflowId=flow, events=ended).json["webhook"]
    assert (hook["workflowId"], hook["events"]) == (flow, ended)
    path = f"/api/webhooks/{hook['id']}"
    unscoped = client.patch(path, json={"workflowId": None}, headers=auth_headers(owner))
    assert unscoped.json["webhook"]["workflowId"] is None


@pytest.mark.usefixtures("resolve_public")
def test_only_the_owner_or_an_admin_sees_or_changes_one(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, admin: tuple[int, str]
) -> None:
    _, owner = make_user()
    _, other = make_user()
    hook = _create(client, auth_headers(owner)).json["webhook"]
    path = f"/api/webhooks/{hook['id']}"
    for answer in (
        client.get(path, headers=auth_headers(other)),
        client.patch(path, json={"format": "slack"}, headers=auth_headers(other)),
        client.delete(path, headers=auth_headers(other)),
        client.get(f"{path}/deliveries", headers=auth_headers(other)),
    ):
        assert answer.status_code == 403, answer.json
    assert client.get("/api/webhooks", headers=auth_headers(other)).json == {"webhooks": []}
    assert [
        w["id"]
        for w in client.get("/api/webhooks", headers=auth_headers(admin[1])).json["webhooks"]
    ] == [hook["id"]]
    assert client.get(path, headers=auth_headers(owner)).json["webhook"]["format"] == "json"
    # A change to a private target is refused like a new one, and changes nothing.
    moved = client.patch(path, json={"url": "https://127.0.0.1/"}, headers=auth_headers(owner))
    assert moved.status_code == 400 and "127.0.0.1" in moved.json["message"]
    assert client.get(path, headers=auth_headers(owner)).json["webhook"]["url"] == URL


@pytest.fixture
def _allowing(web_env: dict[str, str]) -> None:
    web_env["SHOAL_WEBHOOK_ALLOW_PRIVATE"] = "1"
    web_env["SHOAL_WEBHOOK_ALLOW_HTTP"] = "true"


@pytest.mark.usefixtures("_allowing")
def test_an_operator_may_allow_private_and_http_targets(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user()
    answer = _create(client, auth_headers(token), url="http://127.0.0.1:9/hook")
    assert answer.status_code == 201, answer.json
