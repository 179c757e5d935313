"""The budget gate on submissions: at the hard limit a single job, a batch and a
workflow get 429 naming the budget and nothing is created (no job, batch, workflow or
idempotency key); concurrent submissions never overshoot; the warning fires once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from flask.testing import FlaskClient

from shared.jobtypes.builtin import TEST
from tests.webapi.budgets.conftest import Caller, count, limit_of
from webapi.services import Services
from webapi.store import budgets

# What a refused submission must leave as it was.
TABLES = ("jobs", "job_requests", "job_batches", "workflows", "idempotency_keys", "webhook_events")


def _rows(services: Services) -> dict[str, int]:
    return {table: count(services, f"SELECT count(*) FROM {table}") for table in TABLES}


def _budget(client: FlaskClient, headers: dict[str, str], user_id: int, **body: object) -> None:
    body = {"cost": None, "vcpuHours": None, **body}
    answer = client.put(f"/api/budgets/users/{user_id}", json=body, headers=headers)
    assert answer.status_code == 200, answer.json


def _submit(client: FlaskClient, caller: Caller, n: int, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = caller.headers if key is None else {**caller.headers, "Idempotency-Key": key}
    return client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}}, headers=headers
    )


def test_a_job_past_the_limit_is_refused_with_nothing_created_until_an_admin_raises_it(
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    per_job: budgets.Figures,
) -> None:
    _budget(client, admin_headers, analyst.user_id, cost=limit_of_cost(per_job, 2.5))
    assert [_submit(client, analyst, n).status_code for n in (1, 2)] == [200, 200]
    before = _rows(services)
    refused = _submit(client, analyst, 3, key="retry-me")
    assert refused.status_code == 429, refused.json
    message = refused.json["message"]
    assert "Over budget: your budget (cost)" in message and "nothing was created" in message
    with services.engine.connect() as conn:
        two = budgets.estimate(conn, TEST, 2)
    assert f"{budgets.money(two.cost)} committed" in message  # by the two unfinished jobs
    assert _rows(services) == before
    # a cache hit creates no job and costs nothing: still answered
    again = _submit(client, analyst, 1)
    assert again.status_code == 200 and again.json["cached"] is True
    state = client.get("/api/budgets/me", headers=analyst.headers).json
    assert state["state"] == "warning" and state["committed"]["cost"] > 0

    _budget(client, admin_headers, analyst.user_id, cost=limit_of_cost(per_job, 3.5))
    retried = _submit(client, analyst, 3, key="retry-me")  # the key was not consumed
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert client.get("/api/budgets/me", headers=analyst.headers).json["state"] == "warning"


def limit_of_cost(per_job: budgets.Figures, jobs: float) -> float:
    return float(round(per_job.cost * budgets.Decimal(jobs), 6))


def test_a_sweep_whose_estimate_crosses_the_limit_is_refused_before_anything_is_created(
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    per_job: budgets.Figures,
) -> None:
    _budget(client, admin_headers, analyst.user_id, vcpuHours=limit_of(per_job, 4.5))
    before = _rows(services)
    body = {"type": "TEST", "inputs": [{"id": n} for n in range(5)]}
    headers = {**analyst.headers, "Idempotency-Key": "sweep-1"}
    refused = client.post("/api/jobs/batch", json=body, headers=headers)
    assert refused.status_code == 429, refused.json
    assert "(vcpuHours)" in refused.json["message"]
    assert _rows(services) == before
    # identical inputs share a job: four distinct inputs fit
    body["inputs"] = [{"id": n % 4} for n in range(8)]
    fits = client.post("/api/jobs/batch", json=body, headers=headers)
    assert fits.status_code == 201 and fits.json["created"] == 4  # the key was not consumed
    assert _submit(client, analyst, 99).status_code == 429  # half a job left
    assert count(services, "SELECT count(*) FROM jobs") == 4


def test_a_workflow_past_the_limit_is_refused_whole(
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    per_job: budgets.Figures,
) -> None:
    _budget(client, admin_headers, analyst.user_id, cost=limit_of_cost(per_job, 3.5))
    steps = [
        {"name": "prepare", "type": "TEST", "input": {"id": 1}},
        {
            "name": "sweep",
            "type": "TEST",
            "inputs": [{"id": 10 + i} for i in range(3)],
            "after": {"prepare": "afterok"},
        },
    ]
    before = _rows(services)
    refused = client.post(
        "/api/workflows", json={"name": "w", "steps": steps}, headers=analyst.headers
    )
    assert refused.status_code == 429, refused.json
    assert "Over budget" in refused.json["message"]
    assert _rows(services) == before
    steps[1]["inputs"] = steps[1]["inputs"][:2]
    made = client.post(
        "/api/workflows", json={"name": "w", "steps": steps}, headers=analyst.headers
    )
    assert made.status_code == 201, made.json
    assert count(services, "SELECT count(*) FROM jobs") == 3


def test_the_default_budget_holds_every_user_without_their_own(
    client: FlaskClient,
    admin_headers: dict[str, str],
    admin: tuple[int, str],
    analyst: Caller,
    per_job: budgets.Figures,
) -> None:
    body = {"cost": None, "vcpuHours": limit_of(per_job, 1.5)}
    assert client.put("/api/budgets/default", json=body, headers=admin_headers).status_code == 200
    assert _submit(client, analyst, 1).status_code == 200
    refused = _submit(client, analyst, 2)
    assert refused.status_code == 429 and "the default budget" in refused.json["message"]
    _budget(client, admin_headers, analyst.user_id, vcpuHours=limit_of(per_job, 2.5))
    assert _submit(client, analyst, 2).status_code == 200


def test_concurrent_submissions_never_overshoot_the_limit(
    http_url: str,
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    per_job: budgets.Figures,
) -> None:
    fits, attempts = 5, 16
    _budget(client, admin_headers, analyst.user_id, vcpuHours=limit_of(per_job, fits + 0.5))
    start = threading.Barrier(attempts)

    def submit(n: int) -> int:
        with httpx.Client(base_url=http_url, headers=analyst.headers, timeout=30) as http:
            start.wait()
            body = {"type": "TEST", "inputs": [{"id": n}]} if n % 2 else None
            if body is not None:
                code = http.post("/api/jobs/batch", json=body).status_code
                return 200 if code == 201 else code  # a batch is created with 201
            return http.post(
                "/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}}
            ).status_code

    with ThreadPoolExecutor(attempts) as pool:
        codes = list(pool.map(submit, range(attempts)))
    assert sorted(codes) == [200] * fits + [429] * (attempts - fits)
    assert count(services, "SELECT count(*) FROM jobs WHERE user_id = :u", u=analyst.user_id) == 5
    state = client.get("/api/budgets/me", headers=analyst.headers).json
    assert state["committed"]["vcpuHours"] <= state["limit"]["vcpuHours"]
    assert state["state"] == "warning"


def test_the_warning_fires_once_a_month_under_concurrent_submissions(
    http_url: str,
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    per_job: budgets.Figures,
) -> None:
    hook = client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/budget", "events": ["budget.warning"]},
        headers=analyst.headers,
    )
    assert hook.status_code == 201, hook.json
    _budget(client, admin_headers, analyst.user_id, cost=limit_of_cost(per_job, 10.5), warnAt=0.3)
    assert _submit(client, analyst, 1000).status_code == 200  # 1 of 10.5: below warnAt
    assert count(services, "SELECT count(*) FROM webhook_events") == 0
    attempts = 12
    start = threading.Barrier(attempts)

    def submit(n: int) -> int:
        with httpx.Client(base_url=http_url, headers=analyst.headers, timeout=30) as http:
            start.wait()
            return http.post(
                "/api/jobs", json={"type": "TEST", "inputPayload": {"id": n}}
            ).status_code

    with ThreadPoolExecutor(attempts) as pool:
        codes = list(pool.map(submit, range(attempts)))
    assert sorted(codes) == [200] * 9 + [429] * 3
    assert count(services, "SELECT count(*) FROM webhook_events WHERE kind = 'budget.warning'") == 1
    assert count(services, "SELECT count(*) FROM webhook_deliveries") == 1
    with services.engine.connect() as conn:
        data = conn.execute(budgets.text("SELECT data FROM webhook_events")).scalar_one()
    assert data["budget"]["userId"] == analyst.user_id and data["budget"]["state"] == "warning"


def test_what_attempts_used_this_month_counts_as_spent(
    client: FlaskClient,
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
    api_key,  # type: ignore[no-untyped-def]
) -> None:
    """A TEST attempt (1 vCPU) that ran an hour is a vCPU-hour spent: past a limit of half
    that, every submission is refused, even one whose own estimate is nothing new."""
    job_id = _submit(client, analyst, 1).json["jobId"]
    worker = api_key(("WORKER",)).headers
    claim = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
    assignment = client.post("/api/jobs/claim", json=claim, headers=worker).json["assignment"]
    with services.engine.begin() as conn:  # it was claimed an hour ago
        conn.execute(
            budgets.text(
                "UPDATE job_assignments SET created_at = now() - interval '1 hour' WHERE id = :id"
            ),
            {"id": assignment["id"]},
        )
    ended = client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker,
    )
    assert ended.status_code == 200, ended.json
    assert client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]["status"] == (
        "SUCCEEDED"
    )
    _budget(client, admin_headers, analyst.user_id, vcpuHours=0.5)
    mine = client.get("/api/budgets/me", headers=analyst.headers).json
    assert 1.0 <= mine["spent"]["vcpuHours"] < 1.01, mine
    assert mine["committed"] == mine["spent"] and mine["state"] == "exceeded"
    before = _rows(services)
    refused = _submit(client, analyst, 2)
    assert refused.status_code == 429
    assert "1.00" in refused.json["message"].split(" spent")[0], refused.json["message"]
    assert _rows(services) == before
    assert _submit(client, analyst, 1).json["cached"] is True  # the cache still answers
