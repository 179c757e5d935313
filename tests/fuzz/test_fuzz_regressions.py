"""What the OpenAPI fuzzer found, pinned down: each of these was a 500 or an answer
the document did not describe.

- text PostgreSQL cannot store (NUL, unpaired surrogates) in any stored or queried field;
- JSON nested deeper than Python's parser can recurse;
- ids beyond PostgreSQL's integer range in a filter;
- signed local downloads served with a guessed type the document did not name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tests.webapi.conftest import IssuedKey, MakeUser

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
HOSTILE = ["a\x00b", "a\ud800b", "\udfff"]


def _raw(value: Any) -> str:
    """JSON text with ``value`` escaped as JSON does (lone surrogates survive as ``\\udXXX``)."""
    return json.dumps(value)


def _post(client: FlaskClient, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.open(
        url, method=method, data=_raw(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def callers(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Callable[[str], dict[str, str]],
    api_key: Callable[..., IssuedKey],
) -> dict[str, Any]:
    admin_id, admin = make_user("admin@example.org", ("ADMIN",))
    _, analyst = make_user("analyst@example.org", ("ANALYST",))
    analyst_headers = auth_headers(analyst)
    polygon = client.post("/api/polygons", json={"polygon": SQUARE}, headers=analyst_headers)
    note = client.post(
        "/api/notes",
        json={"content": "n", "polygonId": polygon.json["polygon"]["id"]},
        headers=analyst_headers,
    )
    client.post(
        "/api/jobs", json={"type": "TEST", "inputPayload": {"id": 1}}, headers=analyst_headers
    )
    worker = api_key(("WORKER",), owner_id=admin_id).headers
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker).json["assignment"]
    return {
        "ADMIN": auth_headers(admin),
        "ANALYST": analyst_headers,
        "WORKER": worker,
        "MANAGER": api_key(("MANAGER",), owner_id=admin_id).headers,
        "polygon": polygon.json["polygon"]["id"],
        "note": note.json["note"]["id"],
        "assignment": assignment["id"],
        "storage": Path(urlsplit(assignment["storage_uri"]).path),
    }


UNSTORABLE = "Must be text without NUL characters or unpaired surrogates."


def _cases(ids: dict[str, Any], text: str) -> list[tuple[str, str, str, Any]]:
    """(role, method, url, body) with ``text`` in a stored or queried field."""
    polygon_feature = {"type": "Feature", "properties": {"name": text}, "geometry": SQUARE}
    return [
        ("ANALYST", "POST", "/api/auth/register", {"email": "x@example.org", "password": text * 8}),
        ("ANALYST", "POST", "/api/auth/login", {"email": "x@example.org", "password": text}),
        ("ANALYST", "POST", "/api/auth/token", {"refreshToken": text}),
        ("ADMIN", "POST", "/api/auth/api-keys", {"name": text, "roles": ["WORKER"]}),
        ("ADMIN", "POST", "/api/users/pre-approved", {"email": "p@example.org", "roles": [text]}),
        ("ANALYST", "POST", "/api/notes", {"content": text, "polygonId": ids["polygon"]}),
        ("ANALYST", "PUT", f"/api/notes/{ids['note']}", {"content": text}),
        ("ANALYST", "POST", "/api/polygons", {"polygon": polygon_feature}),
        ("ANALYST", "POST", "/api/jobs", {"type": text, "inputPayload": {"id": 1}}),
        (
            "ANALYST",
            "POST",
            "/api/jobs",
            {"type": "POLYGON_STATS", "inputPayload": {"polygon": polygon_feature}},
        ),
        ("ADMIN", "POST", "/api/jobs/invalidate-cache", {"jobType": text}),
        ("WORKER", "POST", "/api/jobs/claim", {**CLAIM, "ecsTaskArn": text}),
        ("WORKER", "POST", "/api/jobs/claim", {**CLAIM, "jobTypes": [text]}),
        (
            "WORKER",
            "POST",
            "/api/jobs/assign",
            {"jobId": 1, "ecsTaskArn": text, "ecsClusterArn": "c"},
        ),
        (
            "WORKER",
            "POST",
            f"/api/jobs/assignments/{ids['assignment']}/heartbeat",
            {"message": text},
        ),
        (
            "WORKER",
            "POST",
            f"/api/jobs/assignments/{ids['assignment']}/result",
            {"status": "FAILED", "resultPayload": {"k": text}, "error": text},
        ),
        ("MANAGER", "POST", "/api/manager/lease", {"holder": text, "ttlSeconds": 10}),
        (
            "MANAGER",
            "PUT",
            "/api/manager/fleet",
            {
                "holder": text,
                "workers": [
                    {"taskArn": text, "jobTypes": [], "status": "RUNNING", "startedAt": text}
                ],
            },
        ),
    ]


@pytest.mark.parametrize("text", HOSTILE, ids=["nul", "lone-high-surrogate", "lone-low-surrogate"])
def test_unstorable_text_in_bodies_is_400(
    client: FlaskClient, callers: dict[str, Any], text: str
) -> None:
    for role, method, url, body in _cases(callers, text):
        response = _post(client, method, url, body, callers[role])
        assert response.status_code == 400, (method, url, body, response.status_code)
        assert UNSTORABLE in response.json["message"], (method, url, response.json)


def test_nul_in_queries_is_400(client: FlaskClient, callers: dict[str, Any]) -> None:
    # A query string cannot carry an unpaired surrogate: its bytes decode to U+FFFD.
    text = "a\x00b"
    for role, url, query in [
        ("ANALYST", "/api/jobs", {"type": text}),
        ("ANALYST", "/api/jobs", {"cursor": text}),
        ("ANALYST", "/api/jobs/1/download", {"filterPrefix": text}),
        ("WORKER", "/api/jobs/poll", {"jobType": text}),
    ]:
        response = client.get(url, query_string=query, headers=callers[role])
        assert response.status_code == 400, (url, query, response.status_code)
        assert list(response.json["errors"]) == list(query)
    delete = client.delete(
        "/api/manager/lease", query_string={"holder": text}, headers=callers["MANAGER"]
    )
    assert delete.status_code == 400


def test_nesting_is_stored_up_to_a_depth_then_400(
    client: FlaskClient, callers: dict[str, Any]
) -> None:
    """A result nested 500 deep is stored; one nested 100,000 deep (200 kB) is a 400."""
    url = f"/api/jobs/assignments/{callers['assignment']}/result"
    for depth, status in [(100_000, 400), (500, 200)]:
        body = '{"status": "FAILED", "resultPayload": %s}' % ("[" * depth + "]" * depth)
        response = client.post(
            url, data=body, content_type="application/json", headers=callers["WORKER"]
        )
        assert response.status_code == status, response.json
    assert response.json["job"]["status"] == "FAILED"


def test_user_filter_beyond_the_integer_range_is_400(
    client: FlaskClient, callers: dict[str, Any]
) -> None:
    for user_id in (2**31, 2**63):
        response = client.get(
            "/api/jobs", query_string={"userId": user_id}, headers=callers["ADMIN"]
        )
        assert response.status_code == 400
        assert "userId" in response.json["errors"]
    largest = client.get("/api/jobs", query_string={"userId": 2**31 - 1}, headers=callers["ADMIN"])
    assert largest.status_code == 200 and largest.json["jobs"] == []


def test_streams_and_files_are_documented_as_served(
    client: FlaskClient, callers: dict[str, Any]
) -> None:
    paths = client.get("/api/openapi.json").json["paths"]
    events = paths["/api/jobs/{job_id}/events"]["get"]["responses"]["200"]
    assert set(events["content"]) == {"text/event-stream"}
    local = paths["/api/storage/local/{relative_path}"]["get"]
    assert set(local["responses"]["200"]["content"]) == {"application/octet-stream"}
    assert {(p["name"], p["required"]) for p in local["parameters"]} == {
        ("expires", True),
        ("signature", True),
    }
    worker = callers["WORKER"]
    callers["storage"].mkdir(parents=True, exist_ok=True)
    (callers["storage"] / "page.html").write_text("<script>alert(1)</script>")
    client.post(
        f"/api/jobs/assignments/{callers['assignment']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker,
    )
    job_id = client.get("/api/jobs", headers=callers["ANALYST"]).json["jobs"][0]["id"]
    files = client.get(f"/api/jobs/{job_id}/download", headers=callers["ANALYST"]).json["files"]
    assert set(files) == {"page.html"}
    for url in files.values():
        response = client.get(url)
        try:
            assert response.status_code == 200
            assert response.mimetype == "application/octet-stream"
        finally:
            response.close()
