"""One cap on open event streams per user, API streams and dashboard live streams together,
held by real concurrent connections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from tests.support.metrics import wait_for_sample
from tests.webapi.conftest import PASSWORD
from tests.webapi.ui.conftest import form_token

CAP = 3


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_MAX_EVENT_STREAMS": str(CAP)}


@pytest.fixture
def browser(live_url: str, analyst) -> Iterator[httpx.Client]:
    """The analyst logged in to the dashboard through its login form: a session cookie."""
    with httpx.Client(base_url=live_url, timeout=30) as http:
        token = form_token(http.get("/login").text, "login_token")
        form = {"email": "analyst@example.org", "password": PASSWORD, "login_token": token}
        assert http.post("/login", data=form).status_code == 303
        yield http


@contextmanager
def opened(http: httpx.Client, url: str, **kwargs) -> Iterator[httpx.Response]:
    """A stream held open: its answer, and (for a 200) its first event read."""
    with http.stream("GET", url, **kwargs) as response:
        if response.status_code != 200:
            response.read()
            yield response
            return
        lines = response.iter_lines()  # kept: a dropped line iterator closes the stream
        assert next(lines).startswith("event: ")
        yield response


def test_api_and_dashboard_streams_of_one_user_share_one_cap(
    live_url: str, client, browser: httpx.Client, analyst, submit
) -> None:
    job_id = submit({"id": 1})  # stays PENDING: its streams stay open
    api, live = f"{live_url}/api/jobs/{job_id}/events", f"/jobs/live?ids={job_id}"
    with ExitStack() as held, httpx.Client(timeout=30) as http:
        first = held.enter_context(opened(http, api, headers=analyst.headers))
        held.enter_context(opened(http, api, headers=analyst.headers))
        held.enter_context(opened(browser, live))
        assert first.status_code == 200
        for url, kwargs in [(live, {}), (api, {"headers": analyst.headers})]:
            with opened(browser if url == live else http, url, **kwargs) as refused:
                assert refused.status_code == 429, (url, refused.status_code)
                assert refused.headers["Retry-After"] == "5"
                assert "SHOAL_MAX_EVENT_STREAMS" in refused.text
        first.close()  # one API stream ends: its slot is the dashboard's to take
        wait_for_sample(
            lambda: client.get("/metrics").get_data(as_text=True), "shoal_open_event_streams", 2
        )
        with opened(browser, live) as again:
            assert again.status_code == 200
