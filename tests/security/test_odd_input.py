"""Odd input that once answered 500, over real HTTP: a 400 naming the problem instead.

tests/fuzz/test_hostile_values.py sends such values to every operation; these are
the cases found by hand, with the messages they now get.
"""

from __future__ import annotations

import base64

import httpx

from tests.security.conftest import Cast
from webapi.store.job_lists import JobSort, encode_cursor

LONG_INTEGER = "1" * 4301  # one digit past what Python's int() converts by default


def _cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def _cursor_for(path: str, value: int) -> str:
    """A cursor of the path's own kind: the job lists' carries their sort and key."""
    if path == "/api/jobs/requests":
        return _cursor(value)
    return encode_cursor(JobSort(), value, value)


def test_an_integer_literal_too_long_for_python_is_a_400(
    live_url: str, http: httpx.Client, cast: Cast
) -> None:
    for path, body in [
        ("/api/jobs", f'{{"type": "TEST", "inputPayload": {{"n": {LONG_INTEGER}}}}}'),
        ("/api/polygons", f'{{"polygon": {{"type": "Polygon", "coordinates": {LONG_INTEGER}}}}}'),
        ("/api/polygons", LONG_INTEGER),
    ]:
        headers = {**cast.analyst.headers, "Content-Type": "application/json"}
        response = http.post(f"{live_url}{path}", content=body, headers=headers)
        assert response.status_code == 400, (path, response.status_code)
        assert "more digits" in response.json()["message"], response.json()
    mine = http.get(f"{live_url}/api/jobs/mine", headers=cast.analyst.headers).json()
    assert mine["jobs"] == []  # nothing was created


def test_a_cursor_past_bigint_is_a_400(live_url: str, http: httpx.Client, cast: Cast) -> None:
    for path in ["/api/jobs", "/api/jobs/mine", "/api/jobs/requests"]:
        for value in [2**63, 10**30]:
            response = http.get(
                f"{live_url}{path}",
                params={"cursor": _cursor_for(path, value)},
                headers=cast.analyst.headers,
            )
            assert response.status_code == 400, (path, value, response.status_code)
            assert response.json()["errors"]["cursor"][0].startswith("Not a cursor"), path
        # The largest id is still a cursor: an empty page, not an error.
        last = http.get(
            f"{live_url}{path}",
            params={"cursor": _cursor_for(path, 2**63 - 1)},
            headers=cast.analyst.headers,
        )
        assert last.status_code == 200, last.json()
