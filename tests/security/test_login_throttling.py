"""Failed logins slow guessing down but never lock the right password out, over real HTTP.

An attacker fails for a colleague's email, or fills the bound of a shared address
(a NAT, an office proxy): the colleague gets 429 with ``Retry-After``, and once that
has passed the right password is accepted again. Delays double up to a cap, and
attempts made while held back are not counted, so they cannot stretch the wait.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.webapi.conftest import PASSWORD, MakeUser

MAX_DELAY = 4


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {
        **web_env,
        "SHOAL_TRUSTED_PROXIES": "1",  # X-Forwarded-For names the client
        "SHOAL_LOGIN_MAX_FAILURES": "3",
        "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "6",
        "SHOAL_LOGIN_DELAY_SECONDS": "1",
        "SHOAL_LOGIN_MAX_DELAY_SECONDS": str(MAX_DELAY),
    }


def _login(http: httpx.Client, url: str, email: str, password: str, address: str) -> httpx.Response:
    return http.post(
        f"{url}/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


def _retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.status_code
    assert set(response.json()) == {"message"}
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= MAX_DELAY, seconds
    return seconds


def _first_answer_after_the_delay(
    http: httpx.Client, url: str, email: str, password: str, address: str
) -> httpx.Response:
    """Try until the answer is not 429; each 429 must promise a wait within the cap."""
    deadline = time.monotonic() + 3 * MAX_DELAY
    while True:
        response = _login(http, url, email, password, address)
        if response.status_code != 429:
            return response
        _retry_after(response)
        assert time.monotonic() < deadline, "still held back long after Retry-After"
        time.sleep(0.1)  # pacing only; the loop ends on the server's answer


def test_failures_for_a_colleagues_email_only_delay_their_right_password(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    make_user("colleague@example.org")
    for i in range(3):  # from three addresses, so only the account's bound is reached
        assert _login(http, live_url, "colleague@example.org", "guess", f"203.0.113.{i}").is_error
    held = _login(http, live_url, "colleague@example.org", PASSWORD, "198.51.100.1")
    _retry_after(held)
    after = _first_answer_after_the_delay(
        http, live_url, "colleague@example.org", PASSWORD, "198.51.100.1"
    )
    assert after.status_code == 200, after.json()


def test_a_shared_address_full_of_failures_only_delays_a_right_password(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    make_user("teammate@example.org")
    office = "192.0.2.10"
    codes = [
        _login(http, live_url, f"guess{i}@example.org", "guess", office).status_code
        for i in range(6)
    ]
    assert codes == [401] * 6
    _retry_after(_login(http, live_url, "teammate@example.org", PASSWORD, office))
    after = _first_answer_after_the_delay(http, live_url, "teammate@example.org", PASSWORD, office)
    assert after.status_code == 200, after.json()
    # A right password adds no delay of its own: the next colleague gets straight in.
    make_user("next@example.org")
    assert _login(http, live_url, "next@example.org", PASSWORD, office).status_code == 200


def test_delays_double_up_to_the_cap_and_attempts_while_held_back_do_not_count(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    make_user("target@example.org")
    email, address = "target@example.org", "203.0.113.50"
    for _ in range(3):
        assert _login(http, live_url, email, "guess", address).status_code == 401
    waits = [_retry_after(_login(http, live_url, email, "guess", address))]
    for _ in range(3):
        # Hammering while held back: refused, and not counted.
        for _ in range(5):
            assert _login(http, live_url, email, "guess", address).status_code == 429
        failed = _first_answer_after_the_delay(http, live_url, email, "guess", address)
        assert failed.status_code == 401
        waits.append(_retry_after(_login(http, live_url, email, "guess", address)))
    assert waits == [1, 2, 4, 4]
    after = _first_answer_after_the_delay(http, live_url, email, PASSWORD, address)
    assert after.status_code == 200


def test_guesses_sent_at_once_are_bounded_too(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    make_user("popular@example.org")

    def guess(i: int) -> int:
        with httpx.Client(timeout=30) as own:  # a connection per guess
            address = f"203.0.113.{100 + i}"
            return _login(own, live_url, "popular@example.org", f"guess {i}", address).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(guess, range(12)))
    # Each guess is counted before any password is checked: only the bound's worth
    # are checked (401), the others wait (429).
    assert statuses == [401] * 3 + [429] * 9, statuses
    _retry_after(_login(http, live_url, "popular@example.org", PASSWORD, "198.51.100.77"))


def test_unknown_emails_are_throttled_exactly_like_known_ones(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    make_user("known@example.org")

    def run(email: str, address: str) -> list[tuple[int, str | None, object]]:
        answers = [_login(http, live_url, email, "guess", address) for _ in range(5)]
        return [(r.status_code, r.headers.get("Retry-After"), r.json()) for r in answers]

    known, unknown = (
        run("known@example.org", "203.0.113.7"),
        run("ghost@example.org", "203.0.113.8"),
    )
    assert [status for status, _, _ in known] == [401, 401, 401, 429, 429]
    assert known == unknown
