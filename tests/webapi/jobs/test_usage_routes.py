"""Usage and cost over the API: a job's attempts and total, the reports (whose, and bad
input answered 4xx naming the problem), the estimate, and the prices an admin sets."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tests.webapi.jobs.conftest import Caller

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task-1", "ecsClusterArn": "cluster"}
MONEY, SECONDS = Decimal("0.000001"), Decimal("0.001")
_IDS = itertools.count(1)  # a new input each: no job answered from the cache


def _run_job(client: Any, worker: Caller, submit: Any, caller: Caller | None = None) -> int:
    job_id: int = submit({"id": next(_IDS)}, caller=caller)
    claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers)
    assert claimed.status_code == 200, claimed.json
    assignment = claimed.json["assignment"]["id"]
    done = client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert done.status_code == 200, done.json
    return job_id


def _attempts(services: Any, job_id: int) -> list[Any]:
    with services.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT extract(epoch FROM a.completed_at - a.created_at) AS run, a.vcpu,"
                " a.memory_gb, p.vcpu_hour, p.gb_hour FROM job_assignments a"
                " JOIN prices p ON p.region = 'us-east-1' AND p.capacity = a.capacity"
                " WHERE a.job_id = :job_id ORDER BY a.attempt"
            ),
            {"job_id": job_id},
        ).all()


def test_a_jobs_detail_shows_each_attempts_usage_and_their_total(
    client, worker, analyst, submit, services
) -> None:
    job_id = _run_job(client, worker, submit)
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    [row] = _attempts(services, job_id)
    cost = row.run * (row.vcpu * row.vcpu_hour + row.memory_gb * row.gb_hour) / 3600
    [assignment] = job["assignments"]
    assert (assignment["vcpu"], assignment["memoryGb"], assignment["capacity"]) == (
        1.0,
        2.0,
        "on_demand",
    )
    assert assignment["runSeconds"] == float(row.run.quantize(SECONDS))
    assert assignment["cost"] == float(cost.quantize(MONEY))
    assert job["usage"] == {
        "attempts": 1,
        "runSeconds": float(row.run.quantize(SECONDS)),
        "vcpuSeconds": float(row.run.quantize(SECONDS)),
        "gbSeconds": float((2 * row.run).quantize(SECONDS)),
        "cost": float(cost.quantize(MONEY)),
        "currency": "USD",
    }


def test_an_analyst_sees_their_own_usage_and_an_admin_everyones(
    client, worker, analyst, submit, make_user, auth_headers, admin
) -> None:
    other_id, other_token = make_user("other@example.org")
    other = Caller(other_id, auth_headers(other_token))
    _run_job(client, worker, submit)
    _run_job(client, worker, submit, caller=other)
    _run_job(client, worker, submit, caller=other)
    own = client.get("/api/usage?by=user", headers=analyst.headers)
    assert own.status_code == 200, own.json
    assert [(r["key"], r["label"], r["attempts"]) for r in own.json["rows"]] == [
        (str(analyst.user_id), "analyst@example.org", 1)
    ]
    everyone = client.get("/api/usage?by=user", headers=auth_headers(admin[1])).json
    assert sorted((r["label"], r["attempts"]) for r in everyone["rows"]) == [
        ("analyst@example.org", 1),
        ("other@example.org", 2),
    ]
    assert everyone["total"]["attempts"] == 3
    assert everyone["total"]["cost"] == pytest.approx(sum(r["cost"] for r in everyone["rows"]))
    one = client.get(f"/api/usage?by=type&user={other_id}", headers=auth_headers(admin[1])).json
    assert [(r["key"], r["attempts"]) for r in one["rows"]] == [("TEST", 2)]


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [
        ("by=week", 400, "by"),
        ("from=yesterday", 400, "from"),
        ("to=2026-13-01T00:00:00Z", 400, "to"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from"),
        ("user=0", 400, "user"),
        ("user={other}", 403, "another user"),
    ],
)
def test_bad_report_queries_are_refused_naming_the_problem(
    client, analyst, make_user, query, status, named
) -> None:
    other_id, _ = make_user("other@example.org")
    answer = client.get(f"/api/usage?{query.format(other=other_id)}", headers=analyst.headers)
    assert answer.status_code == status, answer.json
    assert named in str(answer.json), answer.json


def test_the_estimate_takes_the_timeout_until_there_is_history(
    client, worker, analyst, submit, services
) -> None:
    before = client.get("/api/usage/estimate?jobType=TEST&inputs=10", headers=analyst.headers)
    assert before.status_code == 200, before.json
    assert (before.json["basis"], before.json["sampleSize"]) == ("timeout", 0)
    assert before.json["runSeconds"] == 3900  # TEST's run-time limit
    assert before.json["vcpuSeconds"] == 39_000
    assert before.json["cost"] == float(
        (Decimal(39_000) * Decimal("0.04048") + Decimal(78_000) * Decimal("0.004445")) / 3600
    ).__round__(6)
    job_id = _run_job(client, worker, submit)
    [row] = _attempts(services, job_id)
    after = client.get("/api/usage/estimate?jobType=TEST&inputs=10", headers=analyst.headers).json
    assert (after["basis"], after["sampleSize"]) == ("recent", 1)
    assert after["runSeconds"] == float(row.run.quantize(SECONDS))


@pytest.mark.parametrize(
    ("query", "named"),
    [("jobType=NOPE", "NOPE"), ("jobType=TEST&inputs=0", "inputs"), ("inputs=3", "jobType")],
)
def test_bad_estimates_are_refused(client, analyst, query, named) -> None:
    answer = client.get(f"/api/usage/estimate?{query}", headers=analyst.headers)
    assert answer.status_code == 400, answer.json
    assert named in str(answer.json)


def test_an_admin_sets_a_price_audited_and_it_restates_cost(
    client, worker, analyst, submit, admin, auth_headers, services
) -> None:
    job_id = _run_job(client, worker, submit)
    url = "/api/usage/prices/us-east-1/on_demand"
    body = {"vcpuHour": "1", "gbHour": "0"}
    assert client.put(url, json=body, headers=analyst.headers).status_code == 403
    changed = client.put(url, json=body, headers=auth_headers(admin[1]))
    assert changed.status_code == 200, changed.json
    assert (changed.json["vcpuHour"], changed.json["gbHour"]) == (1.0, 0.0)
    [row] = _attempts(services, job_id)
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert job["usage"]["cost"] == float((row.run / 3600).quantize(MONEY))  # 1 vCPU at $1
    with services.engine.connect() as conn:
        [entry] = conn.execute(
            text("SELECT actor_id, metadata FROM user_logs WHERE action = 'PRICE_CHANGED'")
        ).all()
    assert entry.actor_id == admin[0]
    assert entry.metadata["before"] == {"vcpuHour": "0.04048000", "gbHour": "0.00444500"}
    listed = client.get("/api/usage/prices", headers=analyst.headers).json
    key = ("us-east-1", "on_demand")
    assert listed["region"] == "us-east-1"
    assert {
        k: v
        for k, v in next(p for p in listed["prices"] if (p["region"], p["capacity"]) == key).items()
        if k in ("region", "capacity", "vcpuHour", "gbHour")
    } == {"region": "us-east-1", "capacity": "on_demand", "vcpuHour": 1.0, "gbHour": 0.0}


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("us-east-1/cheap", {"vcpuHour": "1", "gbHour": "1"}, "capacity"),
        ("Mars/spot", {"vcpuHour": "1", "gbHour": "1"}, "region"),
        ("us-east-1/spot", {"vcpuHour": "-1", "gbHour": "1"}, "vcpuHour"),
        ("us-east-1/spot", {"vcpuHour": "NaN", "gbHour": "1"}, "vcpuHour"),
        ("us-east-1/spot", {"vcpuHour": "1"}, "gbHour"),
    ],
)
def test_bad_prices_are_refused_and_change_nothing(
    client, admin, auth_headers, services, path, body, named
) -> None:
    answer = client.put(f"/api/usage/prices/{path}", json=body, headers=auth_headers(admin[1]))
    assert answer.status_code == 400, answer.json
    assert named in str(answer.json)
    with services.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM prices WHERE updated_by IS NOT NULL")
            ).scalar_one()
            == 0
        )
