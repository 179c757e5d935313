"""``shoal admin`` against the real web API on the local compute backend."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.cli.conftest import Shoal
from tests.webapi.conftest import IssuedKey

FLEET = {
    "holder": "manager-1",
    "failedTasks": 1,
    "workers": [
        {
            "taskArn": "local:host:4242",
            "jobTypes": ["TEST", "POLYGON_STATS"],
            "status": "RUNNING",
            "startedAt": "2030-01-01T00:00:00Z",
        }
    ],
}


def test_status_is_a_readable_table(shoal_as_admin: Shoal) -> None:
    result = shoal_as_admin("admin", "status", COLUMNS="120")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The local backend's count is a cap, and says so.
    assert lines[0].split() == [
        "service",
        "INACTIVE",
        "running",
        "0",
        "of",
        "at",
        "most",
        "10",
        "(the",
        "cap)",
        "starting",
        "0",
    ]
    [header] = [line for line in lines if "task definition" in line]
    assert [cell.strip() for cell in header.split("┃")[1:-1]][2] == "cap"
    assert "deployments" in result.stdout and "task definition" in result.stdout
    [row] = [line for line in lines if "PRIMARY" in line and "COMPLETED" in line]
    assert row.split("│")[2].strip() == "local:generation-0"
    assert "PRIMARY: All local workers run the current generation." in result.stdout
    assert "no recent events" in result.stdout


def test_scale_then_status_shows_the_new_count_and_event(shoal_as_admin: Shoal) -> None:
    scaled = shoal_as_admin("admin", "scale", "3")
    assert scaled.exit_code == 0, scaled.output
    assert scaled.stdout == "Local workers scaled to 3\n"
    status = shoal_as_admin("admin", "status", COLUMNS="120")
    assert "at most 3 (the cap)" in " ".join(status.stdout.split())
    assert "desiredCount set to 3" in status.stdout
    as_json = json.loads(shoal_as_admin("admin", "status", "--json").stdout)
    assert as_json["desiredCount"] == 3


def test_scale_out_of_range_is_one_line_with_the_apis_message(shoal_as_admin: Shoal) -> None:
    result = shoal_as_admin("admin", "scale", "11")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "desiredCount" in line and "[HTTP 400]" in line
    status = json.loads(shoal_as_admin("admin", "status", "--json").stdout)
    assert status["desiredCount"] == 10  # unchanged


def test_redeploy_and_workers(
    shoal_as_admin: Shoal, live_url: str, api_key: Callable[..., IssuedKey]
) -> None:
    redeployed = shoal_as_admin("admin", "redeploy")
    assert redeployed.exit_code == 0, redeployed.output
    assert redeployed.stdout == "Local workers restart gracefully\n"
    status = json.loads(shoal_as_admin("admin", "status", "--json").stdout)
    assert [e["message"] for e in status["events"]] == ["redeploy: generation 1"]

    empty = shoal_as_admin("admin", "workers")
    assert empty.exit_code == 0 and empty.stdout == "no workers\n"

    manager = api_key(("MANAGER",)).headers
    lease = {"holder": FLEET["holder"], "ttlSeconds": 30}
    taken = httpx.post(f"{live_url}/api/manager/lease", json=lease, headers=manager)
    assert taken.status_code == 200 and taken.json()["held"]
    reported = httpx.put(f"{live_url}/api/manager/fleet", json=FLEET, headers=manager)
    assert reported.status_code == 200, reported.text
    listed = shoal_as_admin("admin", "workers", COLUMNS="160")
    assert listed.exit_code == 0, listed.output
    assert "local:host:4242" in listed.stdout and "TEST, POLYGON_STATS" in listed.stdout
    status = shoal_as_admin("admin", "status", COLUMNS="160")
    assert status.stdout.splitlines()[0].split()[:2] == ["service", "ACTIVE"]


def test_an_analyst_is_refused_in_one_line(shoal_as_analyst: Shoal) -> None:
    result = shoal_as_analyst("admin", "status")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "[HTTP 403]" in line
