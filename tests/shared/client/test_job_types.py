"""The job-type helpers against the real web API over HTTP: list, read, register, change,
read back by revision, retire, and the API's refusals as ``ApiError``s."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.client import ApiError, ShoalClient
from tests.webapi import conftest as webapi_fixtures
from tests.webapi.conftest import IssuedKey
from tests.webapi.jobs import conftest as jobs_fixtures
from tests.webapi.jobtypes.conftest import MODEL

jwt_key_pair = webapi_fixtures.jwt_key_pair
web_env = webapi_fixtures.web_env
web_settings = webapi_fixtures.web_settings
app = webapi_fixtures.app
services = webapi_fixtures.services
make_user = webapi_fixtures.make_user
api_key = webapi_fixtures.api_key
live_url = jobs_fixtures.live_url


@pytest.fixture
def as_admin(live_url: str, api_key: Callable[..., IssuedKey]) -> ShoalClient:
    return ShoalClient(live_url, api_key=api_key(("ADMIN",)).key)


def test_a_type_is_registered_changed_read_back_and_retired(as_admin: ShoalClient) -> None:
    model: dict[str, Any] = copy.deepcopy(MODEL)
    with as_admin as client:
        created = client.put_job_type("MY_MODEL", model)
        assert [created[k] for k in ("revision", "source", "retired")] == [1, "registered", False]
        # A document read back is sent again as it is: the same content, the same revision.
        assert client.put_job_type("MY_MODEL", client.job_type("MY_MODEL"))["revision"] == 1
        changed = client.put_job_type("MY_MODEL", {**model, "description": "Second."})
        assert changed["revision"] == 2
        assert [r["revision"] for r in client.job_type_revisions("MY_MODEL")] == [1, 2]
        first = client.job_type_revision("MY_MODEL", 1)
        assert first["description"] == MODEL["description"]
        assert {k: v for k, v in first.items() if k in MODEL} == MODEL
        names = [doc["name"] for doc in client.job_types()]
        assert names == ["MY_MODEL", "POLYGON_STATS", "TEST"]
        retired = client.retire_job_type("MY_MODEL")
        assert (retired["retired"], retired["revision"]) == (True, 2)
        assert [doc["name"] for doc in client.job_types()] == ["POLYGON_STATS", "TEST"]
        listed = client.job_types(retired=True)
        assert [(d["name"], d["retired"]) for d in listed[:2]] == [
            ("MY_MODEL", True),
            ("POLYGON_STATS", False),
        ]
        assert client.job_type("TEST")["revision"] is None


def test_refusals_are_api_errors_naming_the_field(as_admin: ShoalClient) -> None:
    with as_admin as client:
        with pytest.raises(ApiError) as bad:
            client.put_job_type("MY_MODEL", {**MODEL, "run": {"command": "model --fast"}})
        assert bad.value.status == 400
        assert bad.value.errors == {"run.command": ["Not a valid list."]}
        with pytest.raises(ApiError) as missing:
            client.job_type("NOPE")
        assert (missing.value.status, missing.value.message) == (404, "Job type NOPE not found")
        with pytest.raises(ApiError) as fixed:
            client.retire_job_type("TEST")
        assert fixed.value.status == 409
        with pytest.raises(ApiError) as escaped:  # one path segment, whatever the name holds
            client.job_type("A?B#C")
        assert escaped.value.message == "Job type A?B#C not found"
