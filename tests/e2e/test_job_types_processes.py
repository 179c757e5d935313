"""Two ``shoal webapi`` servers over one database: a type registered through one is
accepted by the other within a second (the NOTIFY on ``shoal_job_types``).

Run alone, ``-s`` prints the latencies it measured.
"""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, StartApi

pytestmark = pytest.mark.slow

ROUNDS = 5


def _type(name: str) -> dict[str, object]:
    return {
        "name": name,
        "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }


def test_a_type_registered_through_one_server_is_accepted_by_the_other_within_a_second(
    start_api: StartApi,
) -> None:
    first, second = start_api(workers=1), start_api(workers=1)
    login = {"email": ADMIN_EMAIL, "password": first.admin_password}
    token = httpx.post(f"{first.url}/api/auth/login", json=login).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    with httpx.Client(timeout=30, headers=headers) as http:
        # Both servers have started their listeners and loaded their tables.
        for api in (first, second):
            assert http.get(f"{api.url}/api/job-types").status_code == 200
        for round_ in range(ROUNDS + 1):
            name = f"LATENCY_{round_}"
            submit = {"type": name, "inputPayload": {"n": round_}}
            assert http.post(f"{second.url}/api/jobs", json=submit).status_code == 400
            started = time.monotonic()
            put = http.put(f"{first.url}/api/job-types/{name}", json=_type(name))
            assert put.status_code == 201, put.text
            while (answer := http.post(f"{second.url}/api/jobs", json=submit)).status_code != 200:
                assert answer.json()["message"].startswith("Unknown job type"), answer.text
                assert time.monotonic() - started < 10, "never accepted"
            if round_:  # the first round warms both servers up
                latencies.append(time.monotonic() - started)
    print(
        f"accepted by the other server after: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms (PUT included; {ROUNDS} types)"
    )
    assert max(latencies) < 1.0
