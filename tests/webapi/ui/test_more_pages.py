"""More of the dashboard through Flask's test client: cursor pages and filters, the
users page's actions, redeploy, and the live stream's guard."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import update

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login
from webapi.app import close_app, create_app
from webapi.services import Services
from webapi.settings import WebSettings
from webapi.store.models import RefreshToken


def _ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="job-row" id="job-(\d+)"', page)]


def test_my_jobs_pages_newest_first_and_filters(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    for n in range(103):
        data = {"csrf_token": csrf, "type": "TEST", "input.id": str(n)}
        assert client.post("/jobs/new", data=data).status_code == 303
    first = client.get("/").text
    ids = _ids(first)
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    cursor = re.search(r'rel="next" href="([^"]+)"', first)
    assert cursor
    rest = _ids(client.get(html.unescape(cursor.group(1))).text)
    assert len(rest) == 3 and max(rest) < min(ids)
    assert _ids(client.get("/?type=POLYGON_STATS").text) == []
    assert len(_ids(client.get("/?status=PENDING").text)) == 100
    bad = client.get("/?status=NOPE")
    assert bad.status_code == 400 and "status" in bad.text


def test_the_users_page_changes_roles_and_deletes(
    client: FlaskClient, make_user: MakeUser, services: Services
) -> None:
    root_id, _ = make_user("root@example.org", ("ADMIN",))
    bob_id, _ = make_user("bob@example.org")
    csrf = login(client, "root@example.org")
    changed = client.post(
        f"/admin/users/{bob_id}/roles", data={"csrf_token": csrf, "roles": ["ANALYST", "ADMIN"]}
    )
    assert changed.status_code == 303
    # Your own ADMIN role cannot go: the account code's refusal is shown on the page.
    refused = client.post(
        f"/admin/users/{root_id}/roles", data={"csrf_token": csrf, "roles": ["ANALYST"]}
    )
    assert refused.status_code == 400
    assert 'class="problem"' in refused.text
    approved = client.post(
        "/admin/pre-approvals",
        data={"csrf_token": csrf, "email": "new@example.org", "roles": ["ANALYST"]},
    )
    assert approved.status_code == 303 and "new@example.org" in client.get("/admin/users").text
    invalid = client.post(
        "/admin/pre-approvals", data={"csrf_token": csrf, "email": "nope", "roles": ["ANALYST"]}
    )
    assert invalid.status_code == 400 and "email" in invalid.text
    deleted = client.post(f"/admin/users/{bob_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert "bob@example.org" not in client.get("/admin/users").text


def test_redeploy_shows_the_rollout(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    answer = client.post("/admin/fleet/redeploy", data={"csrf_token": csrf})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).text
    assert "local:generation-1" in page and "redeploy: generation 1" in page


def test_the_live_stream_follows_only_visible_jobs(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("ana@example.org")
    make_user("bob@example.org")
    csrf = login(client, "ana@example.org")
    made = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "1"})
    job_id = re.search(r"/jobs/(\d+)", made.headers["Location"]).group(1)  # type: ignore[union-attr]
    assert client.get("/jobs/live?ids=x").status_code == 400
    client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    stream = client.get(f"/jobs/live?ids={job_id}")
    assert stream.mimetype == "text/event-stream"
    assert '"status": "CANCELLED"' in stream.text and stream.text.endswith(
        "event: done\ndata: {}\n\n"
    )
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "bob@example.org")
    assert client.get(f"/jobs/live?ids={job_id}").status_code == 403


def test_a_live_stream_ends_when_its_session_is_revoked(
    web_env: dict[str, str], make_user: MakeUser, services: Services
) -> None:
    # Keep-alives every 0.1 s: each is a wake-up at which the session is checked again.
    app = create_app(WebSettings.from_env({**web_env, "SHOAL_SSE_KEEPALIVE_SECONDS": "0.1"}))
    try:
        client = app.test_client()
        make_user("ana@example.org")
        csrf = login(client, "ana@example.org")
        made = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "1"})
        job_id = re.search(r"/jobs/(\d+)", made.headers["Location"]).group(1)  # type: ignore[union-attr]
        stream = client.get(f"/jobs/live?ids={job_id}", buffered=False)
        chunks = iter(stream.response)
        assert b'"status": "PENDING"' in next(chunks)
        with services.transaction() as conn:
            conn.execute(update(RefreshToken).values(revoked=True))  # as logout does
        rest = b"".join(chunks)  # ends by itself: the job is still pending
        assert rest.endswith(b"\n\n") and b"event: refused" in rest
        assert b"log in" in rest
        stream.close()
    finally:
        close_app(app)
