"""The job lists (GET /api/jobs, GET /api/jobs/mine): filters, sorts, keyset cursors,
reused jobs and the admins' views, through Flask's test client on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.webapi.jobs.conftest import Caller
from webapi.store.job_lists import COUNT_CAP


@pytest.fixture
def other(make_user, auth_headers) -> Caller:
    user_id, token = make_user("other@example.org", ("ANALYST",))
    return Caller(user_id, auth_headers(token))


@pytest.fixture
def boss(admin, auth_headers) -> Caller:
    user_id, token = admin
    return Caller(user_id, auth_headers(token))


def _post(client, caller: Caller, **body: Any) -> int:
    body.setdefault("type", "TEST")
    response = client.post("/api/jobs", json=body, headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json["jobId"]


def _list(client, caller: Caller, path: str = "/api/jobs/mine", **query: Any) -> dict:
    response = client.get(path, query_string=query, headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json


def _ids(client, caller: Caller, path: str = "/api/jobs/mine", **query: Any) -> list[int]:
    return [job["id"] for job in _list(client, caller, path, **query)["jobs"]]


def test_each_filter_picks_exactly_its_jobs(client, analyst, engine) -> None:
    a = _post(client, analyst, inputPayload={"id": 1}, name="alpha one", tags={"site": "a"})
    b = _post(client, analyst, inputPayload={"id": 2}, name="alpha two", tags={"site": "b"})
    c = _post(client, analyst, inputPayload={"id": 3}, name="beta", tags={"site": "a", "run": "2"})
    d = _post(
        client,
        analyst,
        type="POLYGON_STATS",
        inputPayload={
            "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
        },
    )
    batch = client.post(
        "/api/jobs/batch",
        json={"type": "TEST", "inputs": [{"id": 4}, {"id": 1}]},
        headers=analyst.headers,
    ).json
    [e] = set(batch["jobIds"]) - {a}
    assert client.post(f"/api/jobs/{b}/cancel", headers=analyst.headers).status_code == 200
    with engine.begin() as conn:  # c was submitted a day ago
        conn.execute(
            text("UPDATE jobs SET created_at = now() - interval '1 day' WHERE id = :id"), {"id": c}
        )
    assert _ids(client, analyst) == [e, d, c, b, a]
    assert _ids(client, analyst, status="CANCELLED") == [b]
    assert _ids(client, analyst, status=["CANCELLED", "PENDING"]) == [e, d, c, b, a]
    assert _ids(client, analyst, type="POLYGON_STATS") == [d]
    assert _ids(client, analyst, batch=batch["batchId"]) == [e, a]
    assert _ids(client, analyst, name="alpha") == [b, a]
    assert _ids(client, analyst, name="al%") == []  # a prefix, not a pattern
    assert _ids(client, analyst, tag="site=a") == [c, a]
    assert _ids(client, analyst, tag=["site=a", "run=2"]) == [c]
    assert _ids(client, analyst, until="2000-01-01T00:00:00Z") == []
    created_c = _list(client, analyst, tag="run=2")["jobs"][0]["created_at"]
    assert _ids(client, analyst, until=created_c) == []
    assert _ids(client, analyst, since=created_c, until=_later(created_c)) == [c]
    assert _ids(client, analyst, since=_later(created_c)) == [e, d, b, a]
    # Offsets past PostgreSQL's ±15:59 name a time all the same.
    assert _ids(client, analyst, until="1406-11-05T20:51:35+18:49") == []
    assert _ids(client, analyst, since="0001-01-01T00:00:00-18:00") == [e, d, c, b, a]
    both = _list(client, analyst, type="TEST", tag="site=a")
    assert ([j["id"] for j in both["jobs"]], both["total"], both["totalCapped"]) == (
        [c, a],
        2,
        False,
    )


def _later(stamp: str) -> str:
    """An hour after an ISO timestamp."""
    return (datetime.fromisoformat(stamp) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("sort", "key"),
    [("name", "name"), ("type", "type"), ("status", "status"), ("runtime", "runtime")],
)
def test_every_sort_pages_by_cursor_in_order_both_ways(client, analyst, engine, sort, key) -> None:
    ids = [
        _post(client, analyst, inputPayload={"id": n}, name=name, type="TEST")
        for n, name in enumerate(["b", "a", "c", "a", "b"])
    ]
    with engine.begin() as conn:  # distinct statuses and run times, some unfinished
        conn.execute(
            text(
                "UPDATE jobs SET status = CAST(:status AS job_status),"
                " started_at = now() - make_interval(secs => :secs), finished_at = now()"
                " WHERE id = :id"
            ),
            [
                {"id": ids[0], "status": "SUCCEEDED", "secs": 30},
                {"id": ids[2], "status": "FAILED", "secs": 5},
                {"id": ids[3], "status": "SUCCEEDED", "secs": 30},
            ],
        )
    full = _list(client, analyst, limit=100)["jobs"]
    runtime = {j["id"]: -1 if j["finished_at"] is None else _seconds(j) for j in full}
    order = {
        "name": lambda j: j["name"],
        "type": lambda j: j["type"],
        "status": lambda j: STATUS_ORDER.index(j["status"]),
        "runtime": lambda j: runtime[j["id"]],
    }[key]
    for descending in (False, True):
        expected = [
            j["id"] for j in sorted(full, key=lambda j: (order(j), j["id"]), reverse=descending)
        ]
        seen: list[int] = []
        cursor = None
        for _ in range(2 * len(full)):  # a cursor that went nowhere would page for ever
            query = {"sort": sort, "order": "desc" if descending else "asc", "limit": 2}
            page = _list(client, analyst, **query, **({"cursor": cursor} if cursor else {}))
            seen += [j["id"] for j in page["jobs"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        else:
            pytest.fail(f"no last page: {seen}")
            # A job submitted meanwhile shifts nothing on later pages.
            _post(client, analyst, inputPayload={"id": 100 + len(seen)}, name="z")
        assert len(seen) == len(set(seen))  # no job twice
        assert [i for i in seen if i in expected] == expected


def test_a_time_range_pages_by_cursor_both_ways(client, analyst, other, engine) -> None:
    """Mine in a time range, newest and oldest first: each job once, in order."""
    ids = [_post(client, analyst, inputPayload={"id": n}) for n in range(5)]
    _post(client, other, inputPayload={"id": 9})  # in the range, not theirs
    with engine.begin() as conn:  # the oldest two were submitted a day ago
        conn.execute(
            text("UPDATE jobs SET created_at = now() - interval '1 day' WHERE id = ANY(:ids)"),
            {"ids": ids[:2]},
        )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    until = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    for query, expected in (({"since": since}, ids[2:]), ({"until": until}, ids[:2])):
        for order in ("asc", "desc"):
            seen: list[int] = []
            cursor = None
            for _ in range(len(ids)):
                page = _list(
                    client,
                    analyst,
                    **query,
                    order=order,
                    limit=1,
                    **({"cursor": cursor} if cursor else {}),
                )
                seen += [j["id"] for j in page["jobs"]]
                cursor = page["nextCursor"]
                if cursor is None:
                    break
            assert seen == (expected if order == "asc" else expected[::-1]), (query, order)


STATUS_ORDER = ["PENDING", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"]


def _seconds(job: dict) -> float:
    started = datetime.fromisoformat(job["started_at"])
    return (datetime.fromisoformat(job["finished_at"]) - started).total_seconds()


def test_a_job_the_cache_answered_with_is_listed_as_reused(client, analyst, other) -> None:
    theirs = _post(client, other, inputPayload={"id": 9}, name="theirs")
    mine = _post(client, analyst, inputPayload={"id": 8})
    assert _post(client, analyst, inputPayload={"id": 9}) == theirs  # a cache hit
    listed = _list(client, analyst)["jobs"]
    assert [(j["id"], j["reused"]) for j in listed] == [(mine, False), (theirs, True)]
    assert [(j["id"], j["reused"]) for j in _list(client, analyst, "/api/jobs")["jobs"]] == [
        (mine, False),
        (theirs, True),
    ]
    assert _ids(client, analyst, name="theirs") == [theirs]
    assert [(j["id"], j["reused"]) for j in _list(client, other)["jobs"]] == [(theirs, False)]
    assert _list(client, analyst)["total"] == 2


def test_admins_list_everyone_or_one_user_others_may_not(client, analyst, other, boss) -> None:
    a = _post(client, analyst, inputPayload={"id": 1})
    o = _post(client, other, inputPayload={"id": 2})
    assert _ids(client, boss, "/api/jobs") == [o, a]
    assert _ids(client, boss, allUsers="true") == [o, a]
    assert _ids(client, boss, "/api/jobs", userId=analyst.user_id) == [a]
    assert _ids(client, boss) == []  # /mine: the admin's own
    for query in ({"allUsers": "true"}, {"userId": other.user_id}):
        refused = client.get("/api/jobs", query_string=query, headers=analyst.headers)
        assert refused.status_code == 403, refused.json
    assert _ids(client, analyst, "/api/jobs", userId=analyst.user_id) == [a]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"tag": "site"}, "tag"),
        ({"tag": "bad key=v"}, "tag"),
        ({"sort": "colour"}, "sort"),
        ({"order": "up"}, "order"),
        ({"since": "yesterday"}, "since"),
        ({"since": "0001-01-01T00:00:00+18:00"}, "since"),
        ({"batch": 0}, "batch"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"tag": "k=a\x00b"}, "tag"),
        ({"type": "a\x00b"}, "type"),
        ({"limit": 501}, "limit"),
    ],
)
def test_bad_list_queries_are_400_naming_the_field(client, analyst, query, field) -> None:
    response = client.get("/api/jobs/mine", query_string=query, headers=analyst.headers)
    assert response.status_code == 400, response.json
    assert [name.split(".")[0] for name in response.json["errors"]] == [field], response.json


def test_a_cursor_of_another_sort_is_400(client, analyst) -> None:
    for n in range(3):
        _post(client, analyst, inputPayload={"id": n})
    cursor = _list(client, analyst, limit=1)["nextCursor"]
    response = client.get(
        "/api/jobs/mine",
        query_string={"cursor": cursor, "sort": "name", "limit": 1},
        headers=analyst.headers,
    )
    assert response.status_code == 400
    assert "cursor" in response.json["errors"]


def test_the_count_stops_at_its_cap_and_says_so(client, analyst) -> None:
    inputs = [{"id": n} for n in range(COUNT_CAP)]
    made = client.post(
        "/api/jobs/batch", json={"type": "TEST", "inputs": inputs}, headers=analyst.headers
    )
    assert made.status_code == 201, made.json
    exact = _list(client, analyst, limit=1)
    assert (exact["total"], exact["totalCapped"]) == (COUNT_CAP, False)
    _post(client, analyst, inputPayload={"id": COUNT_CAP})
    more = _list(client, analyst, limit=1)
    assert (more["total"], more["totalCapped"]) == (COUNT_CAP, True)
