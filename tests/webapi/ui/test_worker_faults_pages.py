"""The dashboard on lost workers: a job's attempts say why a worker was lost and whether
the attempt counted; the fleet page says when the manager's view of the fleet is stale."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask.testing import FlaskClient

from tests.webapi.admin.test_local_admin import take_lease
from tests.webapi.admin.test_manager_workers import stale_report
from tests.webapi.conftest import IssuedKey, MakeUser
from tests.webapi.ui.conftest import login


def test_a_job_page_shows_an_attempt_lost_to_the_platform(
    client: FlaskClient, make_user: MakeUser, api_key: Callable[..., IssuedKey]
) -> None:
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    made = client.post("/jobs/new", data={"csrf_token": csrf, "type": "TEST", "input.id": "1"})
    job_id = re.search(r"/jobs/(\d+)", made.headers["Location"]).group(1)  # type: ignore[union-attr]
    task = "arn:aws:ecs:us-east-1:0:task/shoal/spot-1"
    claim = {"jobTypes": ["TEST"], "ecsTaskArn": task, "ecsClusterArn": "c", "waitSeconds": 0}
    assert client.post("/api/jobs/claim", json=claim, headers=api_key().headers).status_code == 200
    manager = api_key(("MANAGER",)).headers
    assert take_lease(client, manager, "m1")["held"]
    lost = {"taskArn": task, "reason": "Spot interruption: capacity reclaimed", "platform": True}
    body = {"holder": "m1", "workers": [lost]}
    assert client.post("/api/manager/workers/lost", json=body, headers=manager).status_code == 200
    page = client.get(f"/jobs/{job_id}").text
    assert '<span class="outcome">lost</span>' in page
    assert '<dd class="wrap lost-reason">Spot interruption: capacity reclaimed</dd>' in page
    assert '<dd class="not-counted">no: lost to the platform</dd>' in page
    assert '<dd id="attempt-count">1 (1 not counted) of at most 3</dd>' in page


def test_the_fleet_page_says_when_the_fleet_view_is_stale(
    client: FlaskClient, make_user: MakeUser, api_key: Callable[..., IssuedKey]
) -> None:
    make_user("root@example.org", ("ADMIN",))
    login(client, "root@example.org")
    assert 'id="fleet-stale"' not in client.get("/admin/fleet").text
    manager = api_key(("MANAGER",)).headers
    assert take_lease(client, manager, "m1")["held"]
    report, _ = stale_report(30, "DescribeTasks: Connection was closed")
    assert client.put("/api/manager/fleet", json=report, headers=manager).status_code == 200
    page = client.get("/admin/fleet").text
    stale = re.search(r'<p class="problem" role="status" id="fleet-stale">([^<]*)</p>', page)
    assert stale is not None
    assert "(DescribeTasks: Connection was closed)" in stale.group(1)
    assert re.search(r"the one it last read, (3\d|4\d) s ago", stale.group(1))
