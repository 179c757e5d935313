"""Heavy requests through real gunicorn leave the event loop free (webapi/serving.py).

Each test drives one kind of heavy request through ``shoal webapi`` with one gevent
process, so every request shares one loop, then stops the API (so that all it measured
is in its log) and reads what its loop monitor logged (webapi/loop_monitor.py): a block
is a greenlet that held the loop past the report threshold, less any time the machine
kept the process waiting for a CPU.
"""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e import live
from tests.e2e.conftest import ADMIN_EMAIL, LiveApi, StartApi
from tests.support.metrics import sample

pytestmark = pytest.mark.slow


def logged_blocks(
    api: LiveApi, at_least_ms: int = live.LOOP_BLOCK_REPORT_MS, since: str = ""
) -> list[str]:
    """Stop the API (its processes flush what they found), then its logged blocks."""
    master = psutil.Process(api.pid)
    master.terminate()
    master.wait(60)
    return live.loop_blocks(api.log_path.read_text(), at_least_ms, since)


def admin_http(api: LiveApi) -> httpx.Client:
    token = httpx.post(
        f"{api.url}/api/auth/login",
        json={"email": ADMIN_EMAIL, "password": api.admin_password},
        timeout=60,
    ).json()["token"]
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)


def ring(vertices: int, *, seed: int = 0) -> list[list[float]]:
    """A closed ring of ``vertices`` vertices around (150, -30), 4 decimals each."""
    points = [
        [
            round(150 + 0.5 * math.cos(2 * math.pi * i / vertices) + seed * 1e-4, 4),
            round(-30 + 0.5 * math.sin(2 * math.pi * i / vertices), 4),
        ]
        for i in range(vertices)
    ]
    return [*points, points[0]]


def polygon_input(vertices: int, *, seed: int = 0) -> dict[str, Any]:
    return {"polygon": {"type": "Polygon", "coordinates": [ring(vertices, seed=seed)]}}


def test_the_page_of_a_50000_vertex_polygon_job(start_api: StartApi) -> None:
    api = start_api(workers=1)
    with admin_http(api) as http:
        created = http.post(
            "/api/jobs/batch", json={"type": "POLYGON_STATS", "inputs": [polygon_input(50_000)]}
        )
        assert created.status_code == 201, created.text
        [job_id] = created.json()["jobIds"]
    with httpx.Client(base_url=api.url, timeout=120) as browser:
        form = browser.get("/login").text
        [token] = re.findall(r'name="login_token" value="([^"]+)"', form)
        answer = browser.post(
            "/login",
            data={"email": ADMIN_EMAIL, "password": api.admin_password, "login_token": token},
        )
        assert answer.status_code == 303, answer.text
        for _ in range(3):  # every view draws it again
            page = browser.get(f"/jobs/{job_id}")
            assert page.status_code == 200
            assert re.search(r"Simplified: [\d,]+ of its 50,001 vertices drawn", page.text)
    assert logged_blocks(api) == []


def test_two_large_batches_are_checked_off_the_loop(start_api: StartApi) -> None:
    """Two batches of 10,000 polygons (12 MB each, the last input bad) at once: each is
    refused naming its bad input, a good one is created, and no greenlet held the loop."""
    api = start_api(workers=1)
    inputs = [polygon_input(60, seed=n) for n in range(10_000)]
    bad = [*inputs[:-1], {"polygon": {"type": "Point", "coordinates": [0, 0]}}]
    body = json.dumps({"type": "POLYGON_STATS", "inputs": bad}).encode()
    assert len(body) > 12_000_000
    headers = {"Content-Type": "application/json"}
    with admin_http(api) as http, ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: http.post("/api/jobs/batch", content=body, headers=headers), "ab")
        )
        for answer in answers:
            assert answer.status_code == 400, answer.text
            assert answer.json()["message"].startswith("input 10000 does not match its schema")
        good = inputs[:2_000] + inputs[:10]  # the last ten answered by the first ten's jobs
        created = http.post("/api/jobs/batch", json={"type": "POLYGON_STATS", "inputs": good})
        assert created.status_code == 201, created.text
        assert created.json()["created"] == 2_000
        job_ids = created.json()["jobIds"]
        assert job_ids[-10:] == job_ids[:10] and len(set(job_ids)) == 2_000
        assert http.get("/api/jobs/batches").json()["batches"][0]["size"] == 2_010
        assert len(http.get("/api/jobs/batches").json()["batches"]) == 1
        job = http.get(f"/api/jobs/{job_ids[7]}").json()["job"]
        assert job["input_payload"] == inputs[7]
        longest = sample(httpx.get(f"{api.url}/metrics").text, "shoal_loop_block_seconds_max")
        assert longest is not None and 0 < longest < live.LOOP_BLOCK_REPORT_MS / 1000
    assert logged_blocks(api) == []


def test_logging_in_leaves_the_loop_free(start_api: StartApi) -> None:
    """argon2 at its real cost (about 50 ms a hash) and RS256 tokens: nothing held the
    loop for 20 ms while logins, a wrong password and a registration went through (a
    block's stack is only sampled, so every block from the first login on counts)."""
    api = start_api(workers=1, SHOAL_PASSWORD_HASH_FAST="0", SHOAL_LOOP_BLOCK_REPORT_MS="20")
    login = {"email": ADMIN_EMAIL, "password": api.admin_password}
    wrong = {**login, "password": "not the password"}
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    with httpx.Client(base_url=api.url, timeout=60) as http:
        for _ in range(5):
            assert http.post("/api/auth/login", json=login).status_code == 200
        assert http.post("/api/auth/login", json=wrong).status_code == 401
        new = {"email": "new@example.org", "password": "a long enough password"}
        assert http.post("/api/auth/register", json=new).status_code == 200
    assert logged_blocks(api, at_least_ms=20, since=since) == []


def sweep_type(*required: str) -> dict[str, Any]:
    """A registered type whose JSON Schema takes about half a millisecond an input."""
    point = {
        "type": "array",
        "prefixItems": [
            {"type": "number", "minimum": -180, "maximum": 180},
            {"type": "number", "minimum": -90, "maximum": 90},
        ],
        "minItems": 2,
        "maxItems": 2,
    }
    properties = {
        "region": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"},
        "points": {"type": "array", "items": point},
    }
    return {
        "name": "SWEEP",
        "inputSchema": {
            "type": "object",
            "required": ["region", "points", *required],
            "properties": properties | {name: {"type": "integer"} for name in required},
        },
    }


def checking_child(api: LiveApi) -> psutil.Process | None:
    """The forked child of the API's one worker process, while it checks a batch."""
    [worker] = psutil.Process(api.pid).children()
    children = worker.children()
    return children[0] if children else None


def test_a_registered_types_batch_is_checked_off_the_loop_under_its_revision(
    start_api: StartApi,
) -> None:
    """10,000 inputs of a registered type are checked in the child against the revision
    the process held when the batch came; the type changed meanwhile (revision 2 needs a
    field the inputs lack), and the jobs still record revision 1, the one they passed."""
    api = start_api(workers=1)
    inputs = [
        {"region": f"reef-{n}", "points": [[150 + i * 1e-3, -30 + n * 1e-5] for i in range(4)]}
        for n in range(10_000)
    ]
    with admin_http(api) as http, ThreadPoolExecutor(1) as pool:
        assert http.put("/api/job-types/SWEEP", json=sweep_type()).status_code == 201
        sent = pool.submit(http.post, "/api/jobs/batch", json={"type": "SWEEP", "inputs": inputs})
        while (child := checking_child(api)) is None:
            assert not sent.done(), sent.result().text
        changed = http.put("/api/job-types/SWEEP", json=sweep_type("depth"))
        assert changed.json()["revision"] == 2, changed.text
        assert child.is_running(), "the check ended before the type changed: nothing shown"
        created = sent.result()
        assert created.status_code == 201, created.text
        job_ids = created.json()["jobIds"]
        assert len(set(job_ids)) == 10_000
        for job_id in (job_ids[0], job_ids[-1]):
            job = http.get(f"/api/jobs/{job_id}").json()["job"]
            assert job["typeRevision"] == 1
        refused = http.post("/api/jobs/batch", json={"type": "SWEEP", "inputs": inputs[:2]})
        assert refused.status_code == 400  # revision 2 now: "depth" is missing
        assert "depth" in refused.text
    assert logged_blocks(api) == []


def test_a_pattern_that_backtracks_holds_no_loop_on_a_single_job_or_a_batch(
    start_api: StartApi,
) -> None:
    """A schema's pattern that backtracks exponentially on an input: the single
    submission (checked on the loop) and the batch (checked in a child) are refused at
    once, naming the time limit of pattern matches; health is answered meanwhile, the
    loop is never held, and a good input is still taken."""
    api = start_api(workers=1)
    evil = {
        "name": "EVIL",
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string", "pattern": "^(a|aa)+$"}},
        },
    }
    bad = {"name": "a" * 5000 + "!"}
    with admin_http(api) as http, ThreadPoolExecutor(1) as pool:
        assert http.put("/api/job-types/EVIL", json=evil).status_code == 201
        sent = pool.submit(http.post, "/api/jobs", json={"type": "EVIL", "inputPayload": bad})
        health = httpx.get(f"{api.url}/api/health", timeout=10)
        assert health.status_code == 200
        assert health.elapsed.total_seconds() < 1
        for refused in (
            sent.result(),
            http.post("/api/jobs/batch", json={"type": "EVIL", "inputs": [bad]}),
        ):
            assert refused.status_code == 400, refused.text
            assert "could not be checked" in refused.json()["message"]
            assert "takes too long" in refused.text
        fine = {"type": "EVIL", "inputs": [{"name": "aaa"}]}
        assert http.post("/api/jobs/batch", json=fine).status_code == 201
    assert logged_blocks(api) == []
