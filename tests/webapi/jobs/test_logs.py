"""Job logs: workers ship an attempt's lines, readers page through them, followers see
them live; the per-attempt bound keeps the tail and marks the cut."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import pytest
from sqlalchemy import text

from tests.webapi.jobs.test_events_and_downloads import _follow, _next
from tests.webapi.ui.conftest import login
from webapi.jobs.runtime import EXTENSION

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
TIME = "2026-11-30T01:02:03.456789+00:00"
# TEST keeps 4 KiB per attempt (its own logLimitBytes); other types 2 KiB (the default).
TEST_LIMIT, DEFAULT_LIMIT = 4096, 2048


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {
        **web_env,
        "SHOAL_JOB_OVERRIDES": json.dumps(
            {"TEST": {"leaseSeconds": 2, "maxAttempts": 2, "logLimitBytes": TEST_LIMIT}}
        ),
        "SHOAL_JOB_LOG_LIMIT_BYTES": str(DEFAULT_LIMIT),
        # Streams wake on notifications only (a keep-alive re-reads the logs too).
        "SHOAL_SSE_KEEPALIVE_SECONDS": "60",
    }


def _claim(client, worker, job_type: str = "TEST") -> int:
    body = CLAIM | {"jobTypes": [job_type]}
    answer = client.post("/api/jobs/claim", json=body, headers=worker.headers)
    assert answer.status_code == 200, answer.json
    return answer.json["assignment"]["id"]


def _lines(first: int, count: int, size: int = 10, level: str = "INFO") -> list[dict]:
    return [
        {
            "seq": seq,
            "time": TIME,
            "level": level,
            "stream": "stdout",
            "message": f"line {seq:04d} " + "x" * (size - 10),
        }
        for seq in range(first, first + count)
    ]


def _ship(client, worker, assignment_id: int, lines: list[dict], **extra):
    return client.post(
        f"/api/jobs/assignments/{assignment_id}/logs",
        json={"lines": lines, **extra},
        headers=worker.headers,
    )


def _read_all(client, caller, job_id: int, **query) -> list[dict]:
    lines, after = [], None
    while True:
        page = client.get(
            f"/api/jobs/{job_id}/logs",
            query_string={**query, **({"after": after} if after else {})},
            headers=caller.headers,
        )
        assert page.status_code == 200, page.json
        lines += page.json["lines"]
        after = page.json["next"]
        if after is None:
            return lines


def _wait_for_waiting_queries(services, count: int) -> None:
    """Until ``count`` queries of this database wait for a lock (polled, never slept on)."""
    deadline = time.monotonic() + 30
    with services.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting >= count:
                return
            conn.rollback()
    raise AssertionError(f"fewer than {count} queries ever waited")


def _chunks(services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM job_log_chunks")).scalar_one()


def test_lines_come_back_by_attempt_and_seq_a_page_at_a_time(
    client, analyst, worker, submit
) -> None:
    job_id = submit({"id": 1})
    first = _claim(client, worker)
    # Batches may arrive out of order (a retry overtaken): the reader still orders them.
    assert _ship(client, worker, first, _lines(3, 2)).json == {"stored": 2, "cut": False}
    assert _ship(client, worker, first, _lines(0, 3)).json == {"stored": 3, "cut": False}
    naive = _lines(5, 1)[0] | {"time": "2026-11-30T02:02:03.4567"}  # no zone: UTC
    offset = _lines(6, 1)[0] | {"time": "2026-11-30T11:02:03+10:00"}
    assert _ship(client, worker, first, [naive, offset]).json["stored"] == 2
    client.post(f"/api/jobs/assignments/{first}/release", headers=worker.headers)
    second = _claim(client, worker)
    assert _ship(client, worker, second, _lines(0, 2, level="ERROR")).status_code == 200

    for limit in (1, 2, 3, 1000):
        lines = _read_all(client, analyst, job_id, limit=limit)
        assert [(line["attempt"], line["seq"]) for line in lines] == [
            (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 0), (2, 1)
        ]  # fmt: skip
    assert lines[0] == {
        "attempt": 1,
        "seq": 0,
        "time": "2026-11-30T01:02:03.456Z",
        "level": "INFO",
        "stream": "stdout",
        "message": "line 0000 ",
    }
    assert [line["time"] for line in lines[5:7]] == [
        "2026-11-30T02:02:03.456Z",
        "2026-11-30T01:02:03.000Z",
    ]
    only = _read_all(client, analyst, job_id, attempt=2)
    assert [(line["attempt"], line["seq"], line["level"]) for line in only] == [
        (2, 0, "ERROR"),
        (2, 1, "ERROR"),
    ]

    jsonl = client.get(
        f"/api/jobs/{job_id}/logs", query_string={"format": "jsonl"}, headers=analyst.headers
    )
    assert jsonl.headers["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(row) for row in jsonl.get_data(as_text=True).splitlines()] == lines
    assert "X-Next-Cursor" not in jsonl.headers

    page = client.get(
        f"/api/jobs/{job_id}/logs",
        query_string={"format": "text", "limit": 8},
        headers=analyst.headers,
    )
    assert page.headers["Content-Type"].startswith("text/plain")
    assert (
        page.get_data(as_text=True).splitlines()[0]
        == "2026-11-30T01:02:03.456Z INFO [1] line 0000 "
    )
    rest = client.get(
        f"/api/jobs/{job_id}/logs",
        query_string={"format": "text", "after": page.headers["X-Next-Cursor"]},
        headers=analyst.headers,
    )
    assert rest.get_data(as_text=True) == "2026-11-30T01:02:03.456Z ERROR [2] line 0001 \n"


def test_a_retried_batch_is_stored_once(client, analyst, worker, submit, services) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    assert _ship(client, worker, assignment, _lines(0, 3)).json["stored"] == 3
    assert _ship(client, worker, assignment, _lines(0, 3)).json == {"stored": 0, "cut": False}
    assert [line["seq"] for line in _read_all(client, analyst, job_id)] == [0, 1, 2]
    assert _chunks(services) == 1


def test_refused_for_unknown_foreign_and_finished_assignments(
    client, analyst, worker, api_key, submit, services
) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    assert _ship(client, worker, 10**9, _lines(0, 1)).status_code == 404
    other = api_key(("WORKER",))  # another credential of the same owner
    foreign = client.post(
        f"/api/jobs/assignments/{assignment}/logs",
        json={"lines": _lines(0, 1)},
        headers=other.headers,
    )
    assert foreign.status_code == 403, foreign.json
    assert (
        client.post(
            f"/api/jobs/assignments/{assignment}/logs",
            json={"lines": _lines(0, 1)},
            headers=analyst.headers,
        ).status_code
        == 403
    )  # an analyst is no worker
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    finished = _ship(client, worker, assignment, _lines(0, 1))
    assert finished.status_code == 400
    assert "already reported its result (SUCCEEDED)" in finished.json["message"]
    assert _chunks(services) == 0
    assert _read_all(client, analyst, job_id) == []


def test_a_superseded_attempt_is_refused_and_a_cancelled_one_still_flushes(
    client, analyst, worker, submit, services
) -> None:
    job_id = submit({"id": 1})
    first = _claim(client, worker)
    client.post(f"/api/jobs/assignments/{first}/release", headers=worker.headers)
    second = _claim(client, worker)
    late = _ship(client, worker, first, _lines(0, 1))
    assert late.status_code == 400
    assert "a newer attempt" in late.json["message"]
    client.post(f"/api/jobs/{job_id}/cancel", headers=analyst.headers)
    # The worker learns of the cancel at its heartbeat, stops, and flushes what it logged.
    flushed = _ship(client, worker, second, _lines(0, 2))
    assert flushed.json == {"stored": 2, "cut": False}
    assert [(line["attempt"], line["seq"]) for line in _read_all(client, analyst, job_id)] == [
        (2, 0),
        (2, 1),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": _lines(0, 1001)}, "lines"),
        ({"lines": _lines(1, 1) + _lines(1, 1)}, "lines"),  # seq must increase
        ({"lines": [_lines(0, 1)[0] | {"level": "LOUD"}]}, "lines.0.level"),
        ({"lines": [_lines(0, 1)[0] | {"stream": "tty"}]}, "lines.0.stream"),
        ({"lines": [_lines(0, 1)[0] | {"seq": -1}]}, "lines.0.seq"),
        ({"lines": [_lines(0, 1)[0] | {"time": "yesterday"}]}, "lines.0.time"),
        ({"lines": _lines(0, 1, size=16 * 1024 + 1)}, "lines.0.message"),
        ({"lines": _lines(0, 1), "dropped": {"lines": -1, "bytes": 0}}, "dropped.lines"),
        ({"lines": _lines(0, 1), "extra": 1}, "extra"),
        ({"lines": [_lines(0, 1)[0] | {"tty": 1}]}, "lines.0.tty"),
        (
            {"lines": [{k: v for k, v in _lines(0, 1)[0].items() if k != "message"}]},
            "lines.0.message",
        ),
        ({"lines": [_lines(0, 1)[0] | {"seq": True}]}, "lines.0.seq"),
        ({"lines": [_lines(0, 1)[0] | {"seq": 2**62 + 1}]}, "lines.0.seq"),
        ({"lines": [_lines(0, 1)[0] | {"time": 1700000000}]}, "lines.0.time"),
        ({"lines": [_lines(0, 1)[0] | {"time": "0001-01-01T00:00:00+01:00"}]}, "lines.0.time"),
        ({"lines": [_lines(0, 1)[0] | {"message": ["a"]}]}, "lines.0.message"),
        ({"lines": [*_lines(0, 1), "text"]}, "lines.1.body"),
        ({"lines": "text"}, "lines"),
    ],
)
def test_bad_batches_are_refused_naming_the_field(
    client, worker, submit, services, body, field
) -> None:
    submit({"id": 1})
    assignment = _claim(client, worker)
    answer = client.post(
        f"/api/jobs/assignments/{assignment}/logs", json=body, headers=worker.headers
    )
    assert answer.status_code == 400, answer.json
    assert field in answer.json["errors"], answer.json
    assert _chunks(services) == 0


def test_readers_are_the_jobs_readers(
    client, analyst, worker, submit, make_user, auth_headers, admin
) -> None:
    job_id = submit({"id": 1})
    _ship(client, worker, _claim(client, worker), _lines(0, 1))
    _, stranger_token = make_user("stranger@example.org", ("ANALYST",))
    stranger = auth_headers(stranger_token)
    as_job = client.get(f"/api/jobs/{job_id}", headers=stranger)
    as_logs = client.get(f"/api/jobs/{job_id}/logs", headers=stranger)
    assert (as_logs.status_code, as_logs.json["message"]) == (403, as_job.json["message"])
    assert client.get(f"/api/jobs/{10**9}/logs", headers=stranger).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/logs", headers=auth_headers(admin[1])).status_code == 200
    # A user whose own identical request the cache answered with this job reads it too.
    _, sharer_token = make_user("sharer@example.org", ("ANALYST",))
    again = client.post(
        "/api/jobs",
        json={"type": "TEST", "inputPayload": {"id": 1}},
        headers=auth_headers(sharer_token),
    )
    assert again.json["jobId"] == job_id
    shared = client.get(f"/api/jobs/{job_id}/logs", headers=auth_headers(sharer_token))
    assert [line["seq"] for line in shared.json["lines"]] == [0]
    bad = client.get(
        f"/api/jobs/{job_id}/logs", query_string={"after": "nonsense"}, headers=analyst.headers
    )
    assert bad.status_code == 400 and "after" in bad.json["errors"]


def test_the_bound_keeps_the_tail_and_marks_the_cut(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    answers = [
        _ship(client, worker, assignment, _lines(batch * 10, 10, size=100)).json
        for batch in range(10)
    ]  # 10 batches of 1,000 bytes: 4 fit in 4 KiB
    assert [a["cut"] for a in answers] == [False] * 4 + [True] * 6
    lines = _read_all(client, analyst, job_id)
    marker, kept = lines[0], lines[1:]
    assert [line["seq"] for line in kept] == list(range(60, 100))
    assert (marker["stream"], marker["level"], marker["seq"]) == ("shoal", "WARNING", 60)
    assert marker["message"].startswith("60 earlier lines (6000 bytes) were cut")
    # A retry of a batch the bound already cut is not stored again.
    assert _ship(client, worker, assignment, _lines(0, 10, size=100)).json == {
        "stored": 0,
        "cut": True,
    }
    assert _read_all(client, analyst, job_id) == lines


def test_one_batch_over_the_bound_keeps_its_tail_and_worker_drops_are_marked(
    client, analyst, worker, submit
) -> None:
    job_id = submit({"polygon": _square()}, job_type="POLYGON_STATS")  # the default bound
    assignment = _claim(client, worker, "POLYGON_STATS")
    dropped = {"lines": 7, "bytes": 700}
    assert _ship(client, worker, assignment, _lines(0, 30, size=100)).json["cut"] is True
    lines = _read_all(client, analyst, job_id)
    assert [(line["stream"], line["seq"]) for line in lines] == [
        ("shoal", 10),
        *[("stdout", seq) for seq in range(10, 30)],
    ]
    assert lines[0]["message"].startswith("10 earlier lines (1000 bytes) were cut")
    # A page may end between a marker and its line.
    assert _read_all(client, analyst, job_id, limit=1) == lines
    # Two more lines (64 bytes each, at least) no longer leave room for the first batch.
    assert _ship(client, worker, assignment, _lines(37, 2), dropped=dropped).status_code == 200
    lines = _read_all(client, analyst, job_id)
    assert [(line["stream"], line["seq"]) for line in lines] == [
        ("shoal", 37),
        ("shoal", 37),
        ("stdout", 37),
        ("stdout", 38),
    ]
    assert lines[0]["message"].startswith("30 earlier lines (3000 bytes) were cut")
    assert lines[1]["message"].startswith("7 lines (700 bytes) were dropped by the worker")
    assert _read_all(client, analyst, job_id, limit=1) == lines


def test_empty_lines_fill_the_bound_too(client, analyst, worker, submit, services) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    empty = [line | {"message": ""} for line in _lines(0, 10_000)]
    answers = [
        _ship(client, worker, assignment, empty[first : first + 1000]).json
        for first in range(0, 10_000, 1000)
    ]
    # A line counts 64 bytes at least: 4 KiB holds 64 of them, whatever their messages.
    kept = TEST_LIMIT // 64
    assert answers == [{"stored": kept, "cut": True}] * 10
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*), sum(line_count) FROM job_log_chunks WHERE job_id = :job_id"),
            {"job_id": job_id},
        ).one()
    assert tuple(rows) == (1, kept)
    lines = _read_all(client, analyst, job_id)
    assert [line["seq"] for line in lines[1:]] == list(range(10_000 - kept, 10_000))
    assert lines[0]["message"].startswith(f"{10_000 - kept} earlier lines (0 bytes) were cut")


def _texts(client, analyst, job_id: int) -> list[tuple[int, str]]:
    lines = _read_all(client, analyst, job_id)
    return [(line["seq"], line["message"].split()[0]) for line in lines]


def _said(word: str, first: int, count: int) -> list[dict]:
    return [line | {"message": f"{word} {line['seq']}"} for line in _lines(first, count)]


def test_each_seq_is_stored_once_the_first_write_wins(
    client, analyst, worker, submit, services
) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    assert _ship(client, worker, assignment, _said("first", 10, 10)).json["stored"] == 10
    # Overlapping the end: only 20-24 are new.
    assert _ship(client, worker, assignment, _said("second", 15, 10)).json["stored"] == 5
    # A retry that grew (the worker put an unanswered batch back and took more): 25-29.
    assert _ship(client, worker, assignment, _said("third", 10, 20)).json["stored"] == 5
    # Around a stored batch: what lies on either side is new (5-9 and 30-31).
    assert _ship(client, worker, assignment, _said("fourth", 5, 27)).json["stored"] == 7
    assert _ship(client, worker, assignment, _said("fifth", 5, 27)).json == {
        "stored": 0,
        "cut": False,
    }
    assert _texts(client, analyst, job_id) == [
        *[(seq, "fourth") for seq in range(5, 10)],
        *[(seq, "first") for seq in range(10, 20)],
        *[(seq, "second") for seq in range(20, 25)],
        *[(seq, "third") for seq in range(25, 30)],
        *[(seq, "fourth") for seq in range(30, 32)],
    ]
    with services.engine.connect() as conn:
        ranges = conn.execute(
            text("SELECT first_seq, last_seq FROM job_log_chunks ORDER BY first_seq")
        ).all()
    assert [tuple(r) for r in ranges] == [(5, 9), (10, 19), (20, 24), (25, 29), (30, 31)]


def test_concurrent_batches_of_one_attempt_keep_the_bound(
    live_url, client, analyst, worker, submit, services
) -> None:
    # Three jobs, so a race the serialisation prevents has three chances to show.
    for job in range(3):
        submit({"id": job})
        # The claim may take an earlier job again (leases are 2 s): read what it took.
        claimed = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json
        job_id, assignment = claimed["job"]["id"], claimed["assignment"]["id"]
        _ship_at_once(f"{live_url}/api/jobs/assignments/{assignment}/logs", worker, services)
        with services.engine.connect() as conn:
            stored, trimmed = conn.execute(
                text(
                    "SELECT sum(bytes), sum(trimmed_bytes) FROM job_log_chunks"
                    " WHERE assignment_id = :assignment_id"
                ),
                {"assignment_id": assignment},
            ).one()
        # Never over the bound, the newest lines kept, nothing counted twice. (A batch
        # that arrives after the cut passed it is taken for a retry: not stored, nor counted.)
        assert stored == 4000 and trimmed <= 4000
        lines = _read_all(client, analyst, job_id, attempt=claimed["assignment"]["attempt"])
        assert [line["seq"] for line in lines if line["stream"] == "stdout"] == list(range(40, 80))
        assert [line["stream"] for line in lines[:1]] == ["shoal"]


def _ship_at_once(url: str, worker, services) -> None:
    """Eight batches of 1,000 bytes, held at their insert until all are in flight."""
    answers: list[int] = []

    def ship(batch: int) -> None:
        with httpx.Client(timeout=30) as http:
            body = {"lines": _lines(batch * 10, 10, size=100)}
            answers.append(http.post(url, json=body, headers=worker.headers).status_code)

    threads = [threading.Thread(target=ship, args=(batch,)) for batch in range(8)]
    with services.engine.connect() as holder:
        held = holder.begin()
        holder.execute(text("LOCK TABLE job_log_chunks IN SHARE MODE"))
        for thread in threads:
            thread.start()
        _wait_for_waiting_queries(services, 8)
        held.rollback()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8


def test_a_live_follower_gets_log_events(live_url, client, http, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    _ship(client, worker, assignment, _lines(0, 2))  # before the stream: read with GET
    events: queue.Queue = queue.Queue()
    follower = threading.Thread(
        target=_follow, args=(f"{live_url}/api/jobs/{job_id}/events", analyst.headers, events)
    )
    follower.start()
    assert _next(events)[0] == "status"  # the stream is following from here on
    _ship(client, worker, assignment, _lines(2, 3))
    kind, data = _next(events)
    assert kind == "log"
    assert data["attempt"] == 1
    assert [line["seq"] for line in data["lines"]] == [2, 3, 4]
    assert data["lines"][0]["message"] == "line 0002 "
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert _next(events)[0] == "status"
    assert _next(events) == ("closed", None)
    follower.join(timeout=10)


def test_deleting_a_job_deletes_its_logs(client, worker, submit, app, services) -> None:
    submit({"id": 1})
    assignment = _claim(client, worker)
    _ship(client, worker, assignment, _lines(0, 3))
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    assert _chunks(services) == 1
    assert app.extensions[EXTENSION].queue.prune(retention_seconds=0) == 1
    assert _chunks(services) == 0


def test_a_failed_job_shows_its_last_lines(client, app, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    _ship(client, worker, assignment, _lines(0, 15))
    _ship(client, worker, assignment, _lines(15, 10, level="ERROR"))
    running = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert running["logTail"] is None
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "FAILED", "error": "boom"},
        headers=worker.headers,
    )
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert job["error_message"] == "boom"
    assert [line["seq"] for line in job["logTail"]] == list(range(5, 25))
    assert job["logTail"][-1]["level"] == "ERROR"
    # The dashboard's job page shows them under the error.
    browser = app.test_client()
    login(browser, "analyst@example.org")
    page = browser.get(f"/jobs/{job_id}").text
    tail = page[page.index("Error: boom") :]
    assert "2026-11-30T01:02:03.456Z INFO [1] line 0005" in tail
    assert "2026-11-30T01:02:03.456Z ERROR [1] line 0024" in tail
    assert "line 0004" not in page


def _square() -> dict:
    ring = [[150.0, -20.0], [150.1, -20.0], [150.1, -20.1], [150.0, -20.1], [150.0, -20.0]]
    return {"type": "Polygon", "coordinates": [ring]}
