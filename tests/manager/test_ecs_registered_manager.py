"""Registered job types on ECS through the manager ``shoal manager`` builds
(``build_manager``): the web API over real HTTP (``live_url``) and moto's ECS server.

A type registered over HTTP with a run spec gets one task definition, derived from the
base the settings document's ``registered.ecs`` names, at the first tick that launches
for it; later ticks reuse it, and so does a restarted manager; a new run spec gives a
new revision, used by the next launch. A type without ``run`` gets no task, and a
settings document without ``registered.ecs`` launches nothing for registered types,
tick after tick.

Nothing claims the jobs (moto's tasks run nothing), so the queue stays as the test
put it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from manager.commands import build_manager
from manager.loop import Manager
from manager.settings import ManagerSettings
from tests.manager.ecs_support import CLUSTER, REGION, CallCounter
from tests.manager.test_ecs_types import (  # noqa: F401 - fixtures
    DERIVED_ENVIRONMENT,
    DERIVED_SECRETS,
    FAMILY,
    RUN,
    base,
    by_name,
    ecs_client,
    moto_url,
    revisions,
)
from tests.webapi.conftest import IssuedKey, MakeUser
from tests.webapi.jobs.conftest import live_url  # noqa: F401 - fixture

pytestmark = pytest.mark.slow
IMAGE = "registry.example.org/lab/model"
ANY_ID = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
Headers = dict[str, str]


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "SHOAL_ALLOWED_IMAGES": "registry.example.org/lab/"}


@pytest.fixture
def http(live_url: str) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(base_url=live_url, timeout=30) as found:
        yield found


@pytest.fixture
def admin_headers(make_user: MakeUser, auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(make_user("types-admin@example.org", ("ADMIN",))[1])


@pytest.fixture
def analyst(make_user: MakeUser, auth_headers: Callable[[str], Headers]) -> Headers:
    return auth_headers(make_user("analyst@example.org", ("ANALYST",))[1])


@pytest.fixture
def start_manager(
    live_url: str,  # noqa: F811
    moto_url: str,  # noqa: F811
    api_key: Callable[..., IssuedKey],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[dict[str, Any]], tuple[Manager, CallCounter]]]:
    """``build_manager`` from the environment ``shoal manager`` reads, with this document."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", moto_url)
    key = api_key(("MANAGER",)).key
    made: list[Manager] = []

    def start(document: dict[str, Any]) -> tuple[Manager, CallCounter]:
        settings = ManagerSettings.from_env(
            {
                "SHOAL_API_URL": live_url,
                "SHOAL_API_KEY": key,
                "SHOAL_COMPUTE_BACKEND": "ecs",
                "SHOAL_MANAGER_CONFIG_JSON": json.dumps(document),
                "AWS_REGION": REGION,
            }
        )
        manager = build_manager(settings, holder="ecs-registered-test")
        made.append(manager)
        return manager, CallCounter(manager.backend.ecs)  # type: ignore[attr-defined]

    yield start
    for manager in made:
        manager.close()
        manager.api.client.close()


def network(task_definition_key: str, arn: str) -> dict[str, Any]:
    return {task_definition_key: arn, "cluster": CLUSTER, "subnets": ["subnet-1"]}


def run_spec(image: str = f"{IMAGE}:1.2") -> dict[str, Any]:
    return {**RUN, "image": image}


def put_type(
    http: httpx.Client, headers: Headers, name: str, run: dict[str, Any] | None, max_workers: int
) -> int:
    doc: dict[str, Any] = {
        "inputSchema": ANY_ID,
        "scaling": {"max": max_workers, "cooldownSeconds": 0},
    }
    if run is not None:
        doc["run"] = run
    answer = http.put(f"/api/job-types/{name}", json=doc, headers=headers)
    assert answer.status_code in (200, 201), answer.json()
    revision: int = answer.json()["revision"]
    return revision


def submit(http: httpx.Client, headers: Headers, job_type: str, count: int, first: int = 0) -> None:
    """``count`` jobs of distinct inputs (the same input would join the job already waiting)."""
    for n in range(first, first + count):
        body = {"type": job_type, "inputPayload": {"id": n}}
        answer = http.post("/api/jobs", json=body, headers=headers)
        assert answer.status_code == 200, answer.json()


def task_definitions_of(moto: str, job_type: str) -> list[str]:
    """The task definition of each task RunTask started for ``job_type``, sorted."""
    ecs = ecs_client(moto)
    arns = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"]
    mine = [t for t in tasks if {"key": "shoal:job-type", "value": job_type} in t["tags"]]
    return sorted(t["taskDefinitionArn"] for t in mine)


def test_a_type_registered_over_http_runs_on_its_own_task_definition_revised_with_its_run(
    start_manager: Callable[[dict[str, Any]], tuple[Manager, CallCounter]],
    http: httpx.Client,
    admin_headers: Headers,
    analyst: Headers,
    moto_url: str,  # noqa: F811
    base: str,  # noqa: F811
) -> None:
    put_type(http, admin_headers, "MY_MODEL", run_spec(), max_workers=1)
    put_type(http, admin_headers, "EXTERNAL", None, max_workers=5)  # served by its own workers
    submit(http, analyst, "MY_MODEL", 10)
    submit(http, analyst, "EXTERNAL", 3)
    manager, calls = start_manager({"registered": {"ecs": network("baseTaskDefinition", base)}})

    assert manager.tick().launched == {"MY_MODEL": 1}
    assert calls.calls["RegisterTaskDefinition"] == 1
    [first] = revisions(moto_url)
    assert task_definitions_of(moto_url, "MY_MODEL") == [first]
    assert task_definitions_of(moto_url, "EXTERNAL") == []

    # A new revision of the type that leaves its run spec alone: the same task definition.
    put_type(http, admin_headers, "MY_MODEL", run_spec(), max_workers=2)
    assert manager.tick().launched == {"MY_MODEL": 1}
    assert manager.tick().launched == {}  # at its max
    assert calls.calls["RegisterTaskDefinition"] == 1
    assert task_definitions_of(moto_url, "MY_MODEL") == [first, first]

    put_type(http, admin_headers, "MY_MODEL", run_spec(f"{IMAGE}:1.3"), max_workers=3)
    assert manager.tick().launched == {"MY_MODEL": 1}
    assert calls.calls["RegisterTaskDefinition"] == 2
    assert revisions(moto_url) == [first, f"{first.rsplit(':', 1)[0]}:2"]
    second = revisions(moto_url)[1]
    assert task_definitions_of(moto_url, "MY_MODEL") == [first, first, second]
    assert task_definitions_of(moto_url, "EXTERNAL") == []
    assert calls.calls["RunTask"] == 3

    ecs = ecs_client(moto_url)
    for arn, image in ((first, f"{IMAGE}:1.2"), (second, f"{IMAGE}:1.3")):
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert definition["family"] == FAMILY
        assert (definition["cpu"], definition["memory"]) == ("1024", "2048")
        [container] = definition["containerDefinitions"]
        assert container["image"] == image
        assert by_name(container["environment"], "value") == DERIVED_ENVIRONMENT
        assert by_name(container["secrets"], "valueFrom") == DERIVED_SECRETS
    # The fleet read back from ECS is the manager's: three workers of the type.
    fleet = manager.backend.fleet()
    assert len(fleet.of_type("MY_MODEL")) == 3 and fleet.failures == ()

    # A restarted manager finds the current revision on ECS and registers nothing.
    manager.close()
    restarted, calls = start_manager({"registered": {"ecs": network("baseTaskDefinition", base)}})
    put_type(http, admin_headers, "MY_MODEL", run_spec(f"{IMAGE}:1.3"), max_workers=4)
    submit(http, analyst, "MY_MODEL", 6, first=10)  # 16 waiting: a target of 4 workers
    assert restarted.tick().launched == {"MY_MODEL": 1}
    assert calls.calls["RegisterTaskDefinition"] == 0 and len(revisions(moto_url)) == 2
    assert task_definitions_of(moto_url, "MY_MODEL") == [first, first, second, second]


def test_without_registered_ecs_registered_types_get_nothing_and_every_tick_completes(
    start_manager: Callable[[dict[str, Any]], tuple[Manager, CallCounter]],
    http: httpx.Client,
    admin_headers: Headers,
    analyst: Headers,
    moto_url: str,  # noqa: F811
    base: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    put_type(http, admin_headers, "MY_MODEL", run_spec(), max_workers=2)
    submit(http, analyst, "MY_MODEL", 4)
    submit(http, analyst, "TEST", 1)
    test_type = {"policy": {"max": 1, "cooldownSeconds": 0}, "ecs": network("taskDefinition", base)}
    manager, calls = start_manager({"jobTypes": {"TEST": test_type}})

    with caplog.at_level(logging.WARNING, logger="manager"):
        outcomes = [manager.tick() for _ in range(3)]
    # The document's own type launches on the base; the registered one gets nothing.
    assert [o.launched for o in outcomes] == [{"TEST": 1}, {}, {}]
    assert all(o.held and not o.stale for o in outcomes)
    assert task_definitions_of(moto_url, "TEST") == [base]
    assert task_definitions_of(moto_url, "MY_MODEL") == []
    assert calls.calls["RegisterTaskDefinition"] == 0 and revisions(moto_url) == []
    failures = manager.metrics.registry.get_sample_value(
        "shoal_manager_launch_failures_total", {"job_type": "MY_MODEL"}
    )
    assert failures is None
    # Said once, not once per tick.
    said = [r.__dict__ for r in caplog.records]
    assert [r["job_type"] for r in said if r.get("action") == "unconfigured_job_type"] == [
        "MY_MODEL"
    ]
