"""No answer carries a password hash, an API key hash or a stack trace.

The ``bodies`` fixture (conftest) scans every JSON answer of every security test;
this test makes sure the answers most likely to leak are among them: everything
that returns users or keys, and every kind of error.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.security.conftest import Bodies, Cast
from tests.webapi.conftest import PASSWORD


def test_user_and_key_answers_carry_no_hash(
    client: FlaskClient, cast: Cast, bodies: Bodies
) -> None:
    admin = cast.admin.headers
    created = client.post(
        "/api/users",
        json={"email": "new@example.org", "password": PASSWORD, "roles": ["ANALYST"]},
        headers=admin,
    ).json["user"]
    key = client.post("/api/auth/api-keys", json={"name": "k", "roles": ["WORKER"]}, headers=admin)
    answers = [
        client.get("/api/users", headers=admin),
        client.get(f"/api/users/{created['id']}", headers=admin),
        client.put(f"/api/users/{created['id']}/roles", json={"roles": ["ADMIN"]}, headers=admin),
        client.get("/api/auth/api-keys", headers=admin),
        client.post(
            "/api/users/pre-approved",
            json={"email": "p@example.org", "roles": ["ANALYST"]},
            headers=admin,
        ),
        client.get("/api/users/pre-approved", headers=admin),
        client.post("/api/auth/register", json={"email": "self@example.org", "password": PASSWORD}),
        client.post("/api/auth/login", json={"email": "self@example.org", "password": PASSWORD}),
        client.get("/api/auth/profile", headers={"X-API-Key": key.json["key"]}),
    ]
    for caller in (cast.analyst, cast.worker, cast.worker_login, cast.admin):
        answers.append(client.get("/api/auth/profile", headers=caller.headers))
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert not [field for field in created if "password" in field or "hash" in field]
    # The new key is shown once, at creation, and never again.
    assert sum(key.json["key"] in text for text in bodies) == 1


def test_error_answers_carry_no_trace(client: FlaskClient, cast: Cast, bodies: Bodies) -> None:
    analyst = cast.analyst.headers
    answers = [
        client.post("/api/auth/login", data="{not json", content_type="application/json"),
        client.post(
            "/api/auth/login", data="a=b", content_type="application/x-www-form-urlencoded"
        ),
        client.post("/api/auth/login", json={"email": ["x"], "password": {"$ne": None}}),
        client.post(
            "/api/jobs",
            json={"type": "TEST", "inputPayload": {"id": "1; DROP TABLE jobs"}},
            headers=analyst,
        ),
        client.post("/api/jobs", json={"type": "NOPE\x00", "inputPayload": {}}, headers=analyst),
        client.get("/api/jobs", query_string={"userId": 2**64}, headers=cast.admin.headers),
        client.get("/api/jobs", query_string={"cursor": "' OR 1=1 --"}, headers=analyst),
        client.get("/api/jobs/99999999999999999999999", headers=analyst),
        client.get("/api/polygons", headers={"Authorization": "Bearer \u00ff\u00fe"}),
        client.get("/api/polygons", headers={"X-API-Key": "'; SELECT key_hash FROM api_keys --"}),
        client.open("/api/jobs", method="TRACE", headers=analyst),
        client.get("/api/no/such/route"),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [400, 415, 400, 400, 400, 400, 400, 404, 401, 401, 405, 404], statuses
    assert all(answer.is_json and "message" in answer.json for answer in answers)
    assert len(bodies) >= len(answers)
