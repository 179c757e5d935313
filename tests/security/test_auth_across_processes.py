"""Each API process keeps who keys and users are in memory; a change must reach all of them.

Against ``shoal webapi`` with two processes: a connection is held open to each
process (found through /proc), the key and the user are used there first (so each
process has them cached), then the key is revoked and the user demoted through
another connection. Every process must refuse them within 100 ms of the answer.
"""

from __future__ import annotations

import time

from tests.e2e.conftest import (  # noqa: F401 - fixtures
    ADMIN_EMAIL,
    LiveApi,
    jwt_pems,
    live_api,
    start_api,
)
from tests.support.processes import Connection, children, serving_process

PROPAGATION_SECONDS = 0.1
PASSWORD = "a long enough password"


def _one_per_process(live: LiveApi, warm: list[dict[str, str]]) -> list[Connection]:
    """A connection to each worker process, each having used every credential in ``warm``."""
    workers = children(live.pid)
    assert len(workers) == 2, workers
    held: dict[int, Connection] = {}
    for _ in range(200):
        connection = Connection(live.url)
        for headers in warm:
            assert connection.call("GET", "/api/jobs", headers)[0] == 200
        pid = serving_process(connection.port, connection.client_port(), workers)
        if pid is not None and pid not in held:
            held[pid] = connection
        else:
            connection.http.close()
        if len(held) == len(workers):
            return list(held.values())
    raise AssertionError(f"could not reach every process: {sorted(held)} of {sorted(workers)}")


def _refused_within(connections: list[Connection], headers: dict[str, str], code: int) -> float:
    """Seconds until every connection's process answers ``code``."""
    started = time.perf_counter()
    waiting = list(connections)
    while waiting:
        waiting = [c for c in waiting if c.call("GET", "/api/jobs", headers)[0] != code]
        if time.perf_counter() - started > 5:
            break
    assert not waiting, "a process still accepts the credential after 5 s"
    return time.perf_counter() - started


def test_a_revoked_key_and_a_demoted_user_are_refused_by_every_api_process_within_100_ms(
    live_api: LiveApi,  # noqa: F811
) -> None:
    admin = Connection(live_api.url)
    _, login = admin.call(
        "POST", "/api/auth/login", {}, {"email": ADMIN_EMAIL, "password": live_api.admin_password}
    )
    as_admin = {"Authorization": f"Bearer {login['token']}"}
    status, created = admin.call(
        "POST",
        "/api/users",
        as_admin,
        {"email": "analyst@example.org", "password": PASSWORD, "roles": ["ANALYST"]},
    )
    assert status == 200, created
    user = created["user"]
    _, token = admin.call(
        "POST", "/api/auth/login", {}, {"email": "analyst@example.org", "password": PASSWORD}
    )
    as_user = {"Authorization": f"Bearer {token['token']}"}
    _, key = admin.call("POST", "/api/auth/api-keys", as_admin, {"name": "n", "roles": ["ANALYST"]})
    as_key = {"X-API-Key": key["key"]}
    connections = _one_per_process(live_api, [as_key, as_user])

    assert admin.call("DELETE", f"/api/auth/api-keys/{key['id']}", as_admin)[0] == 204
    key_seconds = _refused_within(connections, as_key, 401)
    roles = admin.call("PUT", f"/api/users/{user['id']}/roles", as_admin, {"roles": ["DEFAULT"]})
    assert roles[0] == 200
    user_seconds = _refused_within(connections, as_user, 403)

    for connection in [admin, *connections]:
        connection.http.close()
    print(f"refused by all after: key {key_seconds * 1e3:.1f} ms, user {user_seconds * 1e3:.1f} ms")
    assert key_seconds <= PROPAGATION_SECONDS and user_seconds <= PROPAGATION_SECONDS
