"""The dashboard's job table through Flask's test client: sort links, filters, the
admins' views, reused jobs, and a reused job's page (read-only)."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login


def _ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="job-row" id="job-(\d+)"', page)]


def _submit(client: FlaskClient, csrf: str, n: int) -> int:
    made = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": str(n)})
    assert made.status_code == 303
    return int(re.findall(r"/jobs/(\d+)", made.headers["Location"])[0])


def test_the_table_sorts_by_its_headers_and_filters(client: FlaskClient, make_user) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    ids = [_submit(client, csrf, n) for n in range(3)]
    client.post(f"/jobs/{ids[1]}/cancel", data={"csrf_token": csrf})
    page = client.get("/").text
    assert _ids(page) == ids[::-1]
    status_link = re.search(r'<a href="([^"]*sort=status[^"]*)">Status', page)
    assert status_link
    by_status = client.get(html.unescape(status_link.group(1))).text
    assert _ids(by_status) == [ids[1], ids[2], ids[0]]  # CANCELLED after PENDING, desc
    assert 'aria-sort="descending"' in by_status
    assert _ids(client.get("/?status=CANCELLED").text) == [ids[1]]
    assert _ids(client.get("/?until=2000-01-01").text) == []
    refused = client.get("/?allUsers=true")
    assert refused.status_code == 403


def test_a_reused_job_is_listed_and_opens_read_only(client: FlaskClient, make_user) -> None:
    make_user("ana@example.org")
    make_user("bob@example.org")
    csrf = login(client, "ana@example.org")
    job_id = _submit(client, csrf, 7)
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "bob@example.org")
    again = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "7"})
    assert again.headers["Location"].endswith(f"/jobs/{job_id}?notice=cached")
    page = client.get("/").text
    assert _ids(page) == [job_id] and ">reused</span>" in page
    detail = client.get(f"/jobs/{job_id}")
    assert detail.status_code == 200, detail.text
    assert "Cancel job" not in detail.text
    cancel = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    assert cancel.status_code == 403
    assert client.get(f"/jobs/live?ids={job_id}").status_code == 200


def test_an_admin_sees_every_user_with_a_user_column(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("root@example.org", ("ADMIN",))
    ana_id, _ = make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    theirs = _submit(client, csrf, 1)
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "root@example.org")
    mine = _submit(client, csrf, 2)
    assert _ids(client.get("/").text) == [mine]
    everyone = client.get("/?allUsers=true").text
    assert _ids(everyone) == [mine, theirs] and '<th scope="col">User</th>' in everyone
    assert _ids(client.get(f"/?userId={ana_id}").text) == [theirs]
