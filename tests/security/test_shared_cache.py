"""The result cache shares a job across users without locking anyone out of their own request.

A user whose submission the cache answered with another user's job may read, follow
and download that job, never cancel it; users with no request for it still get 403.
With ``cacheScope: "user"`` a type's cache is not shared at all.
"""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import Caller, Cast, finish

PAYLOAD = {"type": "TEST", "inputPayload": {"id": 7}}


def _submit(http: httpx.Client, url: str, caller: Caller) -> dict[str, object]:
    answer = http.post(f"{url}/api/jobs", json=PAYLOAD, headers=caller.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _events_status(http: httpx.Client, url: str, job_id: object, caller: Caller) -> int:
    with http.stream("GET", f"{url}/api/jobs/{job_id}/events", headers=caller.headers) as stream:
        return stream.status_code


def test_a_cached_answer_lets_its_requester_read_follow_and_download_but_not_cancel(
    live_url: str, http: httpx.Client, client, cast: Cast, make_user, auth_headers
) -> None:
    first = _submit(http, live_url, cast.analyst)
    shared = _submit(http, live_url, cast.stranger)
    assert shared["jobId"] == first["jobId"] and shared["cached"] is True
    job = f"{live_url}/api/jobs/{shared['jobId']}"
    outsider = Caller(0, auth_headers(make_user("outsider@example.org", ("ANALYST",))[1]))

    assert http.get(job, headers=cast.stranger.headers).status_code == 200
    assert _events_status(http, live_url, shared["jobId"], cast.stranger) == 200
    refused = http.post(f"{job}/cancel", headers=cast.stranger.headers)
    assert refused.status_code == 403 and "creator" in refused.json()["message"]
    assert http.get(job, headers=cast.analyst.headers).json()["job"]["status"] == "PENDING"

    assert finish(client, cast.worker, {"out.txt": "result"}) == shared["jobId"]
    for caller in (cast.stranger, cast.analyst):
        read = http.get(job, headers=caller.headers)
        assert read.status_code == 200 and read.json()["job"]["status"] == "SUCCEEDED"
        files = http.get(f"{job}/download", headers=caller.headers)
        assert files.status_code == 200 and files.json()["files"]
        assert _events_status(http, live_url, shared["jobId"], caller) == 200
    routes = [("GET", ""), ("GET", "/download"), ("GET", "/events"), ("POST", "/cancel")]
    for method, path in routes:
        assert http.request(method, f"{job}{path}", headers=outsider.headers).status_code == 403


class TestPerUserScope:
    @pytest.fixture
    def web_env(self, web_env: dict[str, str]) -> dict[str, str]:
        return {**web_env, "SHOAL_JOB_OVERRIDES": '{"TEST": {"cacheScope": "user"}}'}

    def test_a_per_user_cache_shares_nothing_across_users(
        self, live_url: str, http: httpx.Client, cast: Cast
    ) -> None:
        first = _submit(http, live_url, cast.analyst)
        other = _submit(http, live_url, cast.stranger)
        again = _submit(http, live_url, cast.analyst)
        assert other["cached"] is False and other["jobId"] != first["jobId"]
        assert again["cached"] is True and again["jobId"] == first["jobId"]
