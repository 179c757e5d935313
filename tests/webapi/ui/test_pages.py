"""The dashboard's pages through Flask's test client on a real database: forms,
field errors, cached answers, admin actions. The browser tests drive the same pages live."""

from __future__ import annotations

import io
import json
import re

from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login
from webapi.services import Services

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
}


def _text(answer: object) -> str:
    return answer.get_data(as_text=True)  # type: ignore[attr-defined]


def test_submit_form_errors_are_shown_at_the_field(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    form = client.get("/jobs/new?type=TEST")
    assert 'name="input.durationSeconds"' in _text(form)
    answer = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "TEST", "input.id": "x", "input.durationSeconds": "2"},
    )
    assert answer.status_code == 400
    page = _text(answer)
    assert re.search(r'id="field-id-error">Must be a whole number', page)
    assert 'value="2"' in page  # what was typed is kept
    schema = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "TEST", "input.id": "1", "input.durationSeconds": "-1"},
    )
    assert schema.status_code == 400
    assert 'id="field-durationSeconds-error"' in _text(schema)


def test_an_identical_submission_says_it_is_cached(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    data = {"csrf_token": csrf, "type": "TEST", "input.id": "7"}
    first = client.post("/jobs/new", data=data)
    second = client.post("/jobs/new", data=data)
    assert first.headers["Location"] == second.headers["Location"].replace("cached", "submitted")
    page = client.get(second.headers["Location"])
    assert "already submitted" in _text(page)
    assert "&#34;id&#34;: 7" in _text(page)  # the input, pretty-printed


def test_polygon_from_a_file_and_its_preview(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    preview = client.post(
        "/jobs/new/polygon-preview",
        data={"input.polygon": json.dumps(SQUARE)},
        headers={"X-CSRF-TOKEN": csrf},
    )
    assert "<svg" in _text(preview) and '<path d="M' in _text(preview)
    upload = (io.BytesIO(json.dumps(SQUARE).encode()), "square.geojson")
    answer = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "POLYGON_STATS", "input.polygon.file": upload},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    detail = client.get(answer.headers["Location"])
    assert "<svg" in _text(detail)


def test_another_users_job_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    make_user("bob@example.org")
    csrf = login(client, "ana@example.org")
    made = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "1"})
    job_path = made.headers["Location"].split("?")[0]
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "bob@example.org")
    answer = client.get(job_path)
    assert answer.status_code == 403
    assert "belongs to another user" in _text(answer)
    assert "Traceback" not in _text(answer)


def test_admin_pages_and_actions(
    client: FlaskClient, make_user: MakeUser, services: Services
) -> None:
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    for path in ("/admin/fleet", "/admin/users", "/admin/api-keys", "/"):
        assert client.get(path).status_code == 200, path
    scaled = client.post("/admin/fleet/scale", data={"csrf_token": csrf, "desiredCount": "0"})
    assert scaled.status_code == 303
    assert re.search(r'id="desired-count">0<', _text(client.get("/admin/fleet")))
    too_many = client.post("/admin/fleet/scale", data={"csrf_token": csrf, "desiredCount": "11"})
    assert too_many.status_code == 400
    created = client.post(
        "/admin/api-keys", data={"csrf_token": csrf, "name": "ci", "roles": ["WORKER"]}
    )
    key = re.search(r'id="new-key"[^>]*value="(shoal_[^"]+)"', _text(created))
    assert key
    assert key.group(1) not in _text(client.get("/admin/api-keys"))  # shown once
    assert client.get("/api/auth/profile", headers={"X-API-Key": key.group(1)}).status_code == 200
    key_id = re.search(r"/admin/api-keys/(\d+)/revoke", _text(created))
    assert key_id
    revoked = client.post(f"/admin/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert client.get("/api/auth/profile", headers={"X-API-Key": key.group(1)}).status_code == 401
