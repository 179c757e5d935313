"""Budgets' fixtures: an analyst, an admin's headers, the estimate of one TEST job, and
the app behind a real threaded HTTP server for concurrent submissions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import text

from shared.jobtypes.builtin import TEST
from tests.webapi.conftest import MakeUser
from tests.webapi.jobs import conftest as jobs_fixtures
from webapi.services import Services
from webapi.store import budgets

Headers = Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class Caller:
    user_id: int
    token: str
    headers: dict[str, str]


@pytest.fixture(autouse=True)
def _local_webhooks(web_env: dict[str, str]) -> None:
    """Subscriptions may name a local plain-HTTP receiver."""
    web_env.update(SHOAL_WEBHOOK_ALLOW_PRIVATE="1", SHOAL_WEBHOOK_ALLOW_HTTP="1")


@pytest.fixture
def analyst(make_user: MakeUser, auth_headers: Headers) -> Caller:
    user_id, token = make_user("analyst@example.org", ("ANALYST",))
    return Caller(user_id, token, auth_headers(token))


@pytest.fixture
def admin_headers(admin: tuple[int, str], auth_headers: Headers) -> dict[str, str]:
    return auth_headers(admin[1])


@pytest.fixture
def per_job(services: Services) -> budgets.Figures:
    """What one TEST job is estimated to commit (nothing has run: its time limit)."""
    with services.engine.connect() as conn:
        return budgets.estimate(conn, TEST, 1)


def limit_of(per_job: budgets.Figures, jobs: float) -> float:
    """A limit in vCPU-hours that ``jobs`` TEST jobs' estimate fits in (half a job to spare)."""
    return float(round(per_job.vcpu_hours * Decimal(jobs), 6))


def count(services: Services, sql: str, **params: object) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


# The app behind a real threaded HTTP server, for truly concurrent requests.
http_url = jobs_fixtures.live_url
