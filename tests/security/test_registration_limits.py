"""Self-registration over real HTTP: a limit per client address, and the modes of
``SHOAL_REGISTRATION`` (open, pre-approved-only, closed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.webapi.conftest import PASSWORD, MakeUser


@pytest.fixture
def registration_mode() -> str:
    return "open"


@pytest.fixture
def web_env(web_env: dict[str, str], registration_mode: str) -> dict[str, str]:
    return {
        **web_env,
        "SHOAL_TRUSTED_PROXIES": "1",  # X-Forwarded-For names the client
        "SHOAL_REGISTRATION": registration_mode,
    }


def _register(http: httpx.Client, url: str, email: str, address: str) -> httpx.Response:
    return http.post(
        f"{url}/api/auth/register",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": address},
    )


def test_registrations_are_limited_per_address_even_when_concurrent(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=30) as own:  # a connection per client
            return _register(own, live_url, f"bot{i}@example.org", "203.0.113.66")

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, range(16)))
    statuses = sorted(answer.status_code for answer in answers)
    # The default: 5 per address and hour.
    assert statuses == [200] * 5 + [429] * 11, [answer.text[:200] for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert "registrations" in refused.json()["message"]
    # Failed attempts count too, and another address is not affected.
    assert _register(http, live_url, "late@example.org", "203.0.113.66").status_code == 429
    assert _register(http, live_url, "human@example.org", "198.51.100.2").status_code == 200
    _, token = make_user("admin@example.org", ("ADMIN",))
    listed = http.get(f"{live_url}/api/users", headers={"Authorization": f"Bearer {token}"})
    emails = {user["email"] for user in listed.json()["users"]}
    assert len({e for e in emails if e.startswith("bot")}) == 5


@pytest.mark.parametrize("registration_mode", ["closed"])
def test_closed_registration_refuses_everyone(live_url: str, http: httpx.Client) -> None:
    response = _register(http, live_url, "someone@example.org", "198.51.100.3")
    assert response.status_code == 403
    assert "closed" in response.json()["message"]


@pytest.mark.parametrize("registration_mode", ["pre-approved-only"])
def test_pre_approved_only_registration_admits_only_pre_approved_emails(
    live_url: str, http: httpx.Client, make_user: MakeUser
) -> None:
    _, token = make_user("admin@example.org", ("ADMIN",))
    approved = http.post(
        f"{live_url}/api/users/pre-approved",
        json={"email": "invited@example.org", "roles": ["ANALYST"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert approved.status_code == 200
    stranger = _register(http, live_url, "stranger@example.org", "198.51.100.4")
    assert stranger.status_code == 403
    assert "pre-approval" in stranger.json()["message"]
    invited = _register(http, live_url, "Invited@example.org", "198.51.100.4")
    assert invited.status_code == 200, invited.json()
    login = http.post(
        f"{live_url}/api/auth/login", json={"email": "invited@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200
    # A pre-approval is used once: registering again is refused like a stranger.
    again = _register(http, live_url, "invited@example.org", "198.51.100.4")
    assert again.status_code == 403
