"""The dashboard's log page: every line a page at a time, by attempt, and a poller
that brings only the new lines while the job runs."""

from __future__ import annotations

import re

from tests.webapi.jobs.test_logs import _claim, _lines, _ship
from tests.webapi.ui.conftest import login
from webapi.ui.job_logs import PAGE_LINES


def _shown(page: str) -> list[str]:
    """The messages of the log lines on a page, in order."""
    return re.findall(r'class="log-line log-\w+">\S+ \w+ \[\d+\] (line \d+)', page)


def _poller(page: str) -> str | None:
    found = re.search(r'id="log-more" hx-get="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_log_page_shows_every_line_by_attempt_a_page_at_a_time(
    client, app, worker, submit
) -> None:
    job_id = submit({"id": 1})
    first = _claim(client, worker)
    _ship(client, worker, first, _lines(0, 3))
    client.post(f"/api/jobs/assignments/{first}/release", headers=worker.headers)
    second = _claim(client, worker)
    _ship(client, worker, second, _lines(0, PAGE_LINES))
    _ship(client, worker, second, _lines(PAGE_LINES, 2))
    browser = app.test_client()
    login(browser, "analyst@example.org")

    assert 'id="job-log-link"' in browser.get(f"/jobs/{job_id}").text
    whole = browser.get(f"/jobs/{job_id}/logs").text
    shown = _shown(whole)
    assert shown[:4] == ["line 0000", "line 0001", "line 0002", "line 0000"]
    assert len(shown) == PAGE_LINES
    after = re.search(r'rel="next" href="([^"]+)"', whole)
    assert after is not None and _poller(whole) is None
    rest = browser.get(after.group(1).replace("&amp;", "&")).text
    assert _shown(rest) == [f"line {n:04d}" for n in range(PAGE_LINES - 3, PAGE_LINES + 2)]

    only_first = browser.get(f"/jobs/{job_id}/logs?attempt=1").text
    assert _shown(only_first) == ["line 0000", "line 0001", "line 0002"]
    bad = browser.get(f"/jobs/{job_id}/logs?after=nonsense")
    assert bad.status_code == 400 and "after" in bad.text


def test_the_poller_brings_only_new_lines_until_the_job_ends(client, app, worker, submit) -> None:
    job_id = submit({"id": 1})
    assignment = _claim(client, worker)
    _ship(client, worker, assignment, _lines(0, 2))
    browser = app.test_client()
    login(browser, "analyst@example.org")
    page = browser.get(f"/jobs/{job_id}/logs").text
    assert _shown(page) == ["line 0000", "line 0001"]
    more = _poller(page)
    assert more is not None

    nothing_yet = browser.get(more).text
    assert _shown(nothing_yet) == [] and _poller(nothing_yet) == more
    _ship(client, worker, assignment, _lines(2, 2))
    fresh = browser.get(more).text
    assert _shown(fresh) == ["line 0002", "line 0003"]
    following = _poller(fresh)
    assert following is not None and following != more

    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "FAILED", "error": "boom"},
        headers=worker.headers,
    )
    ended = browser.get(following).text
    assert _shown(ended) == [] and _poller(ended) is None
    assert 'id="log-end"' in ended and "failed" in ended


def test_a_stranger_cannot_read_the_log_page(client, app, worker, submit, make_user) -> None:
    job_id = submit({"id": 1})
    _ship(client, worker, _claim(client, worker), _lines(0, 1))
    make_user("stranger@example.org", ("ANALYST",))
    browser = app.test_client()
    login(browser, "stranger@example.org")
    for path in (f"/jobs/{job_id}/logs", f"/jobs/{job_id}/logs/more"):
        answer = browser.get(path)
        assert answer.status_code == 403 and "line 0000" not in answer.text


def test_an_empty_log_says_so_and_its_first_lines_take_that_away(
    client, app, worker, submit
) -> None:
    job_id = submit({"id": 1})
    browser = app.test_client()
    login(browser, "analyst@example.org")
    page = browser.get(f"/jobs/{job_id}/logs").text
    assert '<p class="muted" id="log-empty">No log lines yet.</p>' in page
    assignment = _claim(client, worker)
    _ship(client, worker, assignment, _lines(0, 1))
    more = browser.get(_poller(page)).text
    assert _shown(more) == ["line 0000"]
    assert '<p id="log-empty" hx-swap-oob="delete"></p>' in more
    client.post(
        f"/api/jobs/assignments/{assignment}/result",
        json={"status": "FAILED", "error": "boom"},
        headers=worker.headers,
    )
    ended = browser.get(f"/jobs/{job_id}/logs?attempt=2").text
    assert '<p class="muted" id="log-empty">No log lines.</p>' in ended
