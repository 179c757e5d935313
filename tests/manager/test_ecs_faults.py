"""The ECS manager when AWS misbehaves: one try means one, a dropped connection fails
one type's launch only, the lease is checked again right before launching, and a
Fargate target without subnets is refused at start-up."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from flask.testing import FlaskClient

from manager.api import ManagerApi
from manager.backends.ecs import EcsBackend, boto_config
from manager.loop import Manager
from manager.policy import ScalingPolicy
from manager.settings import ManagerSettings
from shared.client import ShoalClient
from shared.errors import SettingsError
from tests.manager.conftest import API_URL
from tests.manager.ecs_support import (
    REGION,
    Sleeps,
    backend,
    ecs_world,
    register_task_definition,
    target,
)
from tests.manager.test_loop import analyst, manager_client, settings, submit  # noqa: F401

POLICY = ScalingPolicy(min=0, max=2, cooldown_seconds=0, sensitivity=2.0, factor=3.0)


@pytest.fixture
def ecs() -> Iterator[Any]:
    with ecs_world() as client:
        yield client


class _Failing(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:
        type(self).hits += 1
        body = json.dumps({"__type": "ServerException", "message": "down"}).encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_one_try_means_one_request() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "ecs",
            region_name=REGION,
            endpoint_url=f"http://127.0.0.1:{server.server_port}",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=boto_config(9.0),
        )
        with pytest.raises(Exception, match="ServerException"):
            client.list_clusters()
    finally:
        server.shutdown()
        server.server_close()
    assert _Failing.hits == 1
    config = boto_config(9.0)
    assert config.connect_timeout + config.read_timeout <= 9.0 / 2


def _drop_run_task_of(client: Any, job_type: str) -> None:
    """Every RunTask for ``job_type`` loses its connection; the others go through."""

    def maybe_drop(params: dict[str, Any], **_: Any) -> None:
        tags = {t["key"]: t["value"] for t in params.get("tags", [])}
        if tags.get("shoal:job-type") == job_type:
            raise ConnectionClosedError(endpoint_url="https://ecs.us-east-1.amazonaws.com")

    client.meta.events.register("provide-client-params.ecs.RunTask", maybe_drop)


def test_a_dropped_run_task_fails_that_type_only_and_the_fleet_is_reported(
    ecs: Any,
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: dict[str, str],  # noqa: F811
) -> None:
    td = register_task_definition(ecs)
    submit(client, analyst, 6, "TEST")
    submit(client, analyst, 2, "POLYGON_STATS")
    _drop_run_task_of(ecs, "TEST")  # the type with the most pending jobs goes first
    sleeps = Sleeps()
    targets = {"TEST": target(td), "POLYGON_STATS": target(td)}
    config = settings("ecs", POLICY, **targets)
    compute = backend(ecs, targets, sleeps, holder="faults")
    manager = Manager(
        config, ManagerApi(manager_client), compute, holder="faults", clock=sleeps.clock
    )
    for _ in range(3):
        outcome = manager.tick()  # never raises: a failed tick would report nothing
        sleeps.now += 1
    assert outcome.held
    assert manager.types["TEST"].failures == 1  # backed off after the first drop
    assert manager.types["POLYGON_STATS"].failures == 0
    assert len(compute.fleet().of_type("POLYGON_STATS")) == 1
    assert compute.fleet().of_type("TEST") == []
    # The tick got as far as reporting the fleet (report comes last).
    assert [w.job_types for w in outcome.workers] == [("POLYGON_STATS",)]
    manager.close()


def test_read_timeouts_are_failed_launches_too(ecs: Any) -> None:
    td = register_task_definition(ecs)

    def time_out(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://ecs.us-east-1.amazonaws.com")

    ecs.meta.events.register("provide-client-params.ecs.RunTask", time_out)
    result = backend(ecs, {"TEST": target(td)}).launch("TEST", 3)
    assert result.launched == ()
    [failure] = result.failures
    assert failure.job_type == "TEST" and "ReadTimeoutError" in failure.reason


class _TakenOverDuringTheTick:
    """A backend whose fleet read is slow enough for the lease to pass to ``other``."""

    def __init__(self, inner: EcsBackend, other: Manager, ours: Manager) -> None:
        self.inner, self.other, self.ours = inner, other, ours
        self.name = inner.name

    def fleet(self) -> Any:
        found = self.inner.fleet()
        self.ours.api.release(self.ours.holder)  # as if our lease had run out meanwhile
        assert self.other.renew()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_manager_whose_lease_passed_during_the_tick_does_not_launch(
    ecs: Any,
    manager_client: ShoalClient,  # noqa: F811
    client: FlaskClient,
    analyst: dict[str, str],  # noqa: F811
) -> None:
    td = register_task_definition(ecs)
    submit(client, analyst, 6)
    targets = {"TEST": target(td)}
    config = settings("ecs", POLICY, **targets)
    first_backend = backend(ecs, targets, holder="a")
    second = Manager(
        config, ManagerApi(manager_client), backend(ecs, targets, holder="b"), holder="b"
    )
    first = Manager(config, ManagerApi(manager_client), first_backend, holder="a")
    first.backend = _TakenOverDuringTheTick(first_backend, second, first)  # type: ignore[assignment]
    assert not any(first.tick().launched.values())
    assert second.tick().launched == {"TEST": 2}
    assert len(first_backend.fleet().workers) == 2  # the target, not 4
    second.close()


@pytest.mark.parametrize(
    "ecs_target",
    [
        {"taskDefinition": "td", "cluster": "c"},
        {"taskDefinition": "td", "cluster": "c", "launchType": "FARGATE"},
        {
            "taskDefinition": "td",
            "cluster": "c",
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        },
    ],
)
def test_a_fargate_target_without_subnets_is_refused_at_start_up(ecs_target: Any) -> None:
    env = {
        "SHOAL_API_URL": API_URL,
        "SHOAL_API_KEY": "k",
        "SHOAL_COMPUTE_BACKEND": "ecs",
        "SHOAL_MANAGER_CONFIG_JSON": json.dumps({"jobTypes": {"TEST": {"ecs": ecs_target}}}),
    }
    with pytest.raises(SettingsError, match="subnets"):
        ManagerSettings.from_env(env)
    ec2 = {**ecs_target, "capacityProviderStrategy": [{"capacityProvider": "my-asg"}]}
    ec2.pop("launchType", None)
    env["SHOAL_MANAGER_CONFIG_JSON"] = json.dumps({"jobTypes": {"TEST": {"ecs": ec2}}})
    assert ManagerSettings.from_env(env).job_types["TEST"].ecs is not None


def test_throttled_run_task_gives_up_within_the_call_budget(ecs: Any) -> None:
    td = register_task_definition(ecs)

    def throttle(**_: Any) -> None:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "RunTask")

    ecs.meta.events.register("provide-client-params.ecs.RunTask", throttle)
    sleeps = Sleeps()
    compute = backend(ecs, {"TEST": target(td)}, sleeps, budget_seconds=9.0, max_retries=10)
    result = compute.launch("TEST", 2)
    assert "ThrottlingException" in result.failures[0].reason
    config = boto_config(9.0)
    # Backing off plus one more try's timeouts never passes the budget.
    assert sum(sleeps.slept) + config.connect_timeout + config.read_timeout <= 9.0
    assert compute.throttled >= 2
