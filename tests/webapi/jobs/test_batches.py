"""POST /api/jobs/batch: many jobs in one request, all or nothing, cached per input."""

from __future__ import annotations

import json
import select
import threading
import time

import httpx
import psycopg2
import pytest
from sqlalchemy import text

from tests.support.metrics import wait_for_sample
from webapi.store.payloads import canonical_hash
from webapi.store.sql.create import LOCK_HASH
from webapi.store.sql.fragments import CHANNEL

BATCH_URL = "/api/jobs/batch"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    # No re-check safety net during a test: only notifications wake waiting claimers.
    return {
        **web_env,
        "SHOAL_MAX_BATCH_BODY_BYTES": str(2 * 2**20),
        "SHOAL_CLAIM_RECHECK_SECONDS": "60",
    }


def _counts(services) -> tuple[int, int, int]:
    with services.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM job_requests),"
                " (SELECT count(*) FROM job_batches)"
            )
        ).one()


def _batch(http, live_url, caller, inputs, job_type="TEST"):
    return http.post(
        f"{live_url}{BATCH_URL}", json={"type": job_type, "inputs": inputs}, headers=caller.headers
    )


def test_a_batch_of_5000_is_created_in_one_request_in_input_order(
    http, live_url, analyst, services
) -> None:
    inputs = [{"id": i, "durationSeconds": i % 7} for i in range(5000)]
    response = _batch(http, live_url, analyst, inputs)
    assert response.status_code == 201, response.text
    body = response.json()
    job_ids = body["jobIds"]
    assert len(job_ids) == 5000 == len(set(job_ids)) and body["created"] == 5000
    assert job_ids == sorted(job_ids) and not any(body["cached"])
    with services.engine.connect() as conn:
        jobs = conn.execute(
            text("SELECT id, input_payload, status, user_id FROM jobs ORDER BY id")
        ).all()
        requests = conn.execute(
            text("SELECT job_id, batch_id, cache_hit, input_payload FROM job_requests ORDER BY id")
        ).all()
    assert [job.id for job in jobs] == job_ids
    assert [job.input_payload for job in jobs] == inputs
    assert {(job.status, job.user_id) for job in jobs} == {("PENDING", analyst.user_id)}
    assert [r.job_id for r in requests] == job_ids
    assert {(r.batch_id, r.cache_hit) for r in requests} == {(body["batchId"], False)}
    assert [r.input_payload for r in requests] == inputs


def test_a_bad_input_is_named_by_index_and_nothing_is_created(
    http, live_url, analyst, services
) -> None:
    inputs = [{"id": i} for i in range(5000)]
    inputs[4321] = {"id": "four thousand"}
    before = _counts(services)
    response = _batch(http, live_url, analyst, inputs)
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("input 4322 does not match its schema (id: ")
    assert body["message"].endswith("; nothing was created")
    assert list(body["errors"]) == ["inputs[4321].id"]
    assert _counts(services) == before


def test_every_bad_input_is_named_up_to_twenty(http, live_url, analyst, services) -> None:
    inputs = [{"id": i} if i % 2 else ["not an object"] for i in range(100)]
    response = _batch(http, live_url, analyst, inputs)
    assert response.status_code == 400
    assert response.json()["message"].startswith("input 1 must be a JSON object")
    assert "49 more inputs are bad" in response.json()["message"]
    assert len(response.json()["errors"]) == 20
    assert _counts(services) == (0, 0, 0)


def test_the_cache_answers_each_input_and_duplicates_share_one_job(
    http, live_url, analyst, submit, services
) -> None:
    existing = submit({"id": 2})
    slow_one = {"id": 1, "durationSeconds": 1}
    inputs = [slow_one, {"id": 2}, {"id": 3}, dict(reversed(slow_one.items())), {"id": 3}]
    response = _batch(http, live_url, analyst, inputs)
    assert response.status_code == 201, response.text
    body = response.json()
    one, two, three, one_again, three_again = body["jobIds"]
    assert two == existing and one_again == one and three_again == three
    assert len({one, two, three}) == 3
    assert body["cached"] == [False, True, False, True, True] and body["created"] == 2
    with services.engine.connect() as conn:
        hits = conn.execute(
            text("SELECT job_id, cache_hit FROM job_requests WHERE batch_id = :b ORDER BY id"),
            {"b": body["batchId"]},
        ).all()
    assert [tuple(hit) for hit in hits] == list(zip(body["jobIds"], body["cached"], strict=True))
    again = _batch(http, live_url, analyst, inputs[:3]).json()
    assert again["jobIds"] == [one, two, three] and again["cached"] == [True] * 3
    assert _counts(services)[0] == 3


def test_a_type_without_cache_creates_a_job_per_input(
    http, live_url, analyst, services, app
) -> None:
    registry = app.extensions["shoal_jobs"].batches.registry
    spec = registry.get("TEST")
    object.__setattr__(spec, "cache_results", False)
    try:
        body = _batch(http, live_url, analyst, [{"id": 1}, {"id": 1}]).json()
    finally:
        object.__setattr__(spec, "cache_results", True)
    assert len(set(body["jobIds"])) == 2 and body["cached"] == [False, False]


def test_a_json_lines_body(http, live_url, analyst, services) -> None:
    lines = "\n".join(json.dumps({"id": i}) for i in range(300)) + "\n\n"
    response = http.post(
        f"{live_url}{BATCH_URL}?type=TEST",
        content=lines.encode(),
        headers={**analyst.headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["jobIds"]) == 300
    with services.engine.connect() as conn:
        payloads = conn.execute(text("SELECT input_payload FROM jobs ORDER BY id")).scalars().all()
    assert payloads == [{"id": i} for i in range(300)]


def _post_lines(http, live_url, caller, body: bytes, query: str = "?type=TEST"):
    return http.post(
        f"{live_url}{BATCH_URL}{query}",
        content=body,
        headers={**caller.headers, "Content-Type": "application/x-ndjson"},
    )


def test_bad_json_lines_are_400_naming_the_input(http, live_url, analyst, services) -> None:
    broken = _post_lines(http, live_url, analyst, b'{"id": 1}\n\n{"id": \n{"id": 3}\n')
    assert broken.status_code == 400
    assert broken.json()["message"].startswith("input 2 (line 3) is not valid JSON")
    untyped = _post_lines(http, live_url, analyst, b'{"id": 1}\n', query="")
    assert untyped.status_code == 400 and "type" in untyped.json()["errors"]
    unstorable = _post_lines(http, live_url, analyst, b'{"id": 1, "x": "a\\u0000b"}\n')
    assert unstorable.status_code == 400
    wrong = _post_lines(http, live_url, analyst, b'{"id": "x"}\n')
    assert wrong.status_code == 400 and list(wrong.json()["errors"]) == ["inputs[0].id"]
    assert _counts(services) == (0, 0, 0)


def test_bad_batches_are_400_and_create_nothing(http, live_url, analyst, services) -> None:
    cases = [
        ({"type": "NOPE", "inputs": [{"id": 1}]}, "type"),
        ({"type": "TEST", "inputs": []}, "inputs"),
        ({"type": "TEST", "inputs": [{"id": i} for i in range(10_001)]}, "inputs"),
        ({"type": "TEST"}, "inputs"),
        ({"type": "TEST", "inputs": [{"id": 1}], "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = http.post(f"{live_url}{BATCH_URL}", json=body, headers=analyst.headers)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["errors"], response.json()
    typed_twice = http.post(
        f"{live_url}{BATCH_URL}?type=TEST",
        json={"type": "TEST", "inputs": [{"id": 1}]},
        headers=analyst.headers,
    )
    assert typed_twice.status_code == 400
    assert _counts(services) == (0, 0, 0)


def test_batch_bodies_have_their_own_size_limit(http, live_url, analyst, services) -> None:
    """Above the usual 1 MiB (a big sweep), up to SHOAL_MAX_BATCH_BODY_BYTES (here 2 MiB)."""
    inputs = ",".join(json.dumps({"id": i}) for i in range(2000))
    big = f'{{"type": "TEST", "inputs": [{inputs}]}}'.ljust(3 * 2**20 // 2).encode()
    headers = {**analyst.headers, "Content-Type": "application/json"}
    response = http.post(f"{live_url}{BATCH_URL}", content=big, headers=headers)
    assert response.status_code == 201, response.text
    too_big = big.ljust(2 * 2**20 + 1)
    response = http.post(f"{live_url}{BATCH_URL}", content=too_big, headers=headers)
    assert response.status_code == 413
    assert "at most 2,097,152 bytes (SHOAL_MAX_BATCH_BODY_BYTES)" in response.json()["message"]
    chunked = http.post(f"{live_url}{BATCH_URL}", content=iter([too_big]), headers=headers)
    assert chunked.status_code == 413 and "SHOAL_MAX_BATCH" in chunked.json()["message"]
    assert _counts(services) == (2000, 2000, 1)


def test_only_analysts_and_admins_submit_batches(http, live_url, worker) -> None:
    response = _batch(http, live_url, worker, [{"id": 1}])
    assert response.status_code == 403


def test_one_batch_wakes_as_many_waiting_claimers_as_it_has_jobs(live_url, analyst, worker) -> None:
    """N long-poll claims (in one API process) all get a job from one batch of N."""
    waiters = 6
    answers: list[httpx.Response] = []

    def claim(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            body = {"jobTypes": ["TEST"], "ecsTaskArn": f"task-{n}", "ecsClusterArn": "c"}
            answers.append(
                http.post(
                    f"{live_url}/api/jobs/claim",
                    json=body | {"waitSeconds": 8},
                    headers=worker.headers,
                )
            )

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(waiters)]
    for thread in threads:
        thread.start()
    metrics = lambda: httpx.get(f"{live_url}/metrics").text  # noqa: E731
    wait_for_sample(metrics, "shoal_waiting_claims", waiters)
    with httpx.Client(timeout=30) as http:
        batch = _batch(http, live_url, analyst, [{"id": i} for i in range(waiters)]).json()
    for thread in threads:
        thread.join(timeout=20)
    assert [answer.status_code for answer in answers] == [200] * waiters
    assert sorted(a.json()["job"]["id"] for a in answers) == batch["jobIds"]


def test_identical_batches_at_the_same_moment_share_their_jobs(
    live_url, make_user, auth_headers, services
) -> None:
    """Two users submit the same 2,000 inputs at once (the TEST cache is global).

    The test holds the hash lock of one input until both batches wait on it, then
    lets them race: the second to get the locks finds the first's jobs.
    """
    inputs = [{"id": i} for i in range(2000)]
    callers = [auth_headers(make_user()[1]) for _ in range(2)]
    answers: list[dict] = []

    def submit(headers: dict[str, str]) -> None:
        with httpx.Client(timeout=60) as http:
            response = http.post(
                f"{live_url}{BATCH_URL}", json={"type": "TEST", "inputs": inputs}, headers=headers
            )
            answers.append(response.json())

    threads = [threading.Thread(target=submit, args=(headers,)) for headers in callers]
    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    with services.engine.begin() as held:
        held.execute(text(LOCK_HASH), {"hash": canonical_hash("TEST", inputs[0])})
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while held.execute(text(waiting)).scalar_one() < 2:
            assert time.monotonic() < deadline, "the batches never waited on the lock"
            assert not answers, f"{len(answers)} batch(es) created without the hash locks"
            time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=60)
    first, second = answers
    assert first["jobIds"] == second["jobIds"]
    assert sorted([first["created"], second["created"]]) == [0, 2000]
    assert _counts(services) == (2000, 4000, 2)


def test_a_batch_past_max_pending_is_429_and_creates_nothing(
    http, live_url, client, admin, auth_headers, analyst, submit, services
) -> None:
    """Only new jobs count: cache hits (of an existing job or an earlier input) do not."""
    quota = {"weight": 1, "maxPending": 4, "maxRunning": None}
    url = f"/api/users/{analyst.user_id}/quota"
    assert client.put(url, json=quota, headers=auth_headers(admin[1])).status_code == 200
    submit({"id": 0})
    before = _counts(services)
    too_many = _batch(http, live_url, analyst, [{"id": i} for i in range(5)])
    assert too_many.status_code == 429 and "maxPending" in too_many.json()["message"]
    assert _counts(services) == before
    fits = _batch(http, live_url, analyst, [{"id": i % 4} for i in range(8)])
    assert fits.status_code == 201 and fits.json()["created"] == 3


def test_a_batch_passes_its_priority_to_its_jobs(http, live_url, analyst, services) -> None:
    body = {"type": "TEST", "inputs": [{"id": 1}, {"id": 2}], "priority": 7}
    assert http.post(f"{live_url}{BATCH_URL}", json=body, headers=analyst.headers).is_success
    lines = _post_lines(http, live_url, analyst, b'{"id": 3}\n', query="?type=TEST&priority=-2")
    assert lines.status_code == 201
    with services.engine.connect() as conn:
        priorities = conn.execute(text("SELECT priority FROM jobs ORDER BY id")).scalars().all()
    assert priorities == [7, 7, -2]
    out_of_range = body | {"priority": 101}
    response = http.post(f"{live_url}{BATCH_URL}", json=out_of_range, headers=analyst.headers)
    assert response.status_code == 400 and "priority" in response.json()["errors"]


def test_a_per_user_cache_answers_only_the_users_own_inputs(
    http, live_url, analyst, submit, make_user, auth_headers, app
) -> None:
    mine = submit({"id": 1})
    theirs = submit({"id": 2}, caller=type(analyst)(0, auth_headers(make_user()[1])))
    spec = app.extensions["shoal_jobs"].batches.registry.get("TEST")
    object.__setattr__(spec, "cache_scope", "user")
    try:
        body = _batch(http, live_url, analyst, [{"id": 1}, {"id": 2}]).json()
    finally:
        object.__setattr__(spec, "cache_scope", "global")
    assert body["jobIds"][0] == mine and body["jobIds"][1] != theirs
    assert body["cached"] == [True, False]


def test_a_batch_is_announced_in_one_notification(
    http, live_url, analyst, submit, services
) -> None:
    """Its new jobs in one NOTIFY (with their count); a later single submit marks the end."""
    args, kwargs = services.engine.dialect.create_connect_args(services.engine.url)
    listener = psycopg2.connect(*args, **kwargs)
    try:
        listener.autocommit = True
        listener.cursor().execute(f"LISTEN {CHANNEL}")
        batch = _batch(http, live_url, analyst, [{"id": i} for i in range(50)]).json()
        marker = submit({"id": 999})
        seen: list[dict] = []
        deadline = time.monotonic() + 15
        while not any(event.get("job_id") == marker for event in seen):
            assert time.monotonic() < deadline, f"no notification of job {marker}: {seen}"
            select.select([listener], [], [], 1)
            listener.poll()
            seen += [json.loads(n.payload) for n in listener.notifies]
            listener.notifies.clear()
    finally:
        listener.close()
    assert seen[:-1] == [
        {
            "event": "created",
            "type": "TEST",
            "status": "PENDING",
            "count": 50,
            "batch_id": batch["batchId"],
        }
    ]
