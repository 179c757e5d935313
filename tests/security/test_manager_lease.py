"""The manager's lease and fleet report are the manager's alone.

A WORKER key reaches none of ``/api/manager/*``; another MANAGER credential (or an
admin) can neither learn the holder's id, nor renew or release the lease under it,
nor plant workers in the fleet report.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.security.conftest import Cast
from tests.webapi.conftest import IssuedKey

FAKE = [
    {
        "taskArn": "planted",
        "jobTypes": ["TEST"],
        "status": "RUNNING",
        "startedAt": "2030-01-01T00:00:00Z",
    }
]


def test_only_the_credential_that_took_the_lease_holds_it_and_reports_the_fleet(
    live_url: str, http: httpx.Client, cast: Cast, api_key: Callable[..., IssuedKey]
) -> None:
    manager = api_key(("MANAGER",), owner_id=cast.admin.user_id).headers
    rival = api_key(("MANAGER",), owner_id=cast.admin.user_id).headers
    lease, fleet = f"{live_url}/api/manager/lease", f"{live_url}/api/manager/fleet"

    def take(headers: dict[str, str], holder: str, ttl: float = 30) -> httpx.Response:
        return http.post(lease, json={"holder": holder, "ttlSeconds": ttl}, headers=headers)

    taken = take(manager, "m1")
    assert taken.status_code == 200 and taken.json()["held"] and taken.json()["holder"] == "m1"

    for worker in (cast.worker.headers, cast.worker_login.headers):
        assert take(worker, "w", 3600).status_code == 403
        assert http.delete(lease, params={"holder": "m1"}, headers=worker).status_code == 403
        planted = http.put(fleet, json={"holder": "m1", "workers": FAKE}, headers=worker)
        assert planted.status_code == 403
        assert http.get(f"{live_url}/api/manager/config", headers=worker).status_code == 403

    for other in (rival, cast.admin.headers):
        refused = take(other, "m2", 3600)
        assert refused.json()["held"] is False and refused.json()["holder"] is None
        posing = take(other, "m1", 3600)  # the holder's id, guessed
        assert posing.json()["held"] is False and posing.json()["holder"] is None
        released = http.delete(lease, params={"holder": "m1"}, headers=other)
        assert released.json() == {"released": False}
        planted = http.put(fleet, json={"holder": "m1", "workers": FAKE}, headers=other)
        assert planted.status_code == 403

    renewed = take(manager, "m1")
    assert renewed.json()["held"] and renewed.json()["holder"] == "m1"
    reported = http.put(fleet, json={"holder": "m1", "workers": []}, headers=manager)
    assert reported.status_code == 200
    workers = http.get(f"{live_url}/api/admin/workers", headers=cast.admin.headers).json()
    assert workers["workers"] == []
    assert http.delete(lease, params={"holder": "m1"}, headers=manager).json() == {"released": True}
