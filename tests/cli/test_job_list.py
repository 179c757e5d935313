"""``shoal jobs list`` against the real web API over HTTP: filters, output, paging."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.cli.conftest import Caller, Shoal


def _submit(live_url: str, caller: Caller, **body: Any) -> int:
    body.setdefault("type", "TEST")
    answer = httpx.post(f"{live_url}/api/jobs", json=body, headers=caller.headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["jobId"])


def test_list_filters_and_prints_one_line_per_job(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    a = _submit(live_url, analyst, inputPayload={"id": 1}, name="heat one", tags={"site": "a"})
    b = _submit(live_url, analyst, inputPayload={"id": 2}, name="cold", tags={"site": "b"})
    httpx.post(f"{live_url}/api/jobs/{b}/cancel", headers=analyst.headers).raise_for_status()

    listed = shoal_as_analyst("jobs", "list", "--parsable")
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(r[0], r[1], r[2], r[3], r[5], r[6]) for r in lines] == [
        (str(b), "cold", "TEST", "CANCELLED", "", "0%"),
        (str(a), "heat one", "TEST", "PENDING", "", "0%"),
    ]
    for args, expected in [
        (("--status", "PENDING"), [a]),
        (("--status", "PENDING", "--status", "CANCELLED"), [b, a]),
        (("--tag", "site=b"), [b]),
        (("--name", "heat"), [a]),
        (("--sort", "name", "--asc"), [b, a]),
        (("--until", "2000-01-01"), []),
    ]:
        found = shoal_as_analyst("jobs", "list", "--parsable", *args)
        assert found.exit_code == 0, (args, found.output)
        assert [int(line.split("\t")[0]) for line in found.stdout.splitlines()] == expected, args


def test_list_table_json_and_pages_by_cursor(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    ids = [_submit(live_url, analyst, inputPayload={"id": n}, name=f"n{n}") for n in range(3)]
    table = shoal_as_analyst("jobs", "list")
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["id", "name", "type", "status", "submitted", "runtime", "progress"]
    assert [row.split()[:4] for row in rows] == [
        [str(i), f"n{n}", "TEST", "PENDING"] for n, i in reversed(list(enumerate(ids)))
    ]
    assert "3 of 3 jobs" in table.stderr

    seen: list[int] = []
    args = ["jobs", "list", "--json", "--limit", "2"]
    first = json.loads(shoal_as_analyst(*args).stdout)
    seen += [job["id"] for job in first["jobs"]]
    second = json.loads(shoal_as_analyst(*args, "--cursor", first["nextCursor"]).stdout)
    seen += [job["id"] for job in second["jobs"]]
    assert (seen, second["nextCursor"]) == (list(reversed(ids)), None)

    paged = shoal_as_analyst("jobs", "list", "--parsable", "--limit", "2")
    assert f"next page: --cursor {first['nextCursor']}" in paged.stderr


def test_a_reused_job_is_marked_and_admins_see_everyone(
    shoal_as_analyst: Shoal, shoal_as_admin: Shoal, live_url: str, analyst: Caller, make_user,
    auth_headers,
) -> None:  # fmt: skip
    other_id, token = make_user("other@example.org", ("ANALYST",))
    other = Caller(other_id, auth_headers(token))
    theirs = _submit(live_url, other, inputPayload={"id": 5})
    assert _submit(live_url, analyst, inputPayload={"id": 5}) == theirs  # the cache answered

    mine = shoal_as_analyst("jobs", "list", "--parsable")
    assert [line.split("\t")[0] for line in mine.stdout.splitlines()] == [f"{theirs}*"]

    everyone = shoal_as_admin("jobs", "list", "--all-users")
    assert everyone.exit_code == 0, everyone.output
    header, *rows = everyone.stdout.splitlines()
    assert header.split()[-1] == "user"
    assert [(row.split()[0], row.split()[-1]) for row in rows] == [(str(theirs), str(other_id))]
    one = shoal_as_admin("jobs", "list", "--parsable", "--user", str(analyst.user_id))
    assert (one.exit_code, one.stdout) == (0, "")

    refused = shoal_as_analyst("jobs", "list", "--all-users")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: Only admins") and "[HTTP 403]" in refused.stderr
