"""The singleton lease: two managers against the real web API, one active at a time."""

from __future__ import annotations

import time
from collections.abc import Callable

from manager.api import ManagerApi
from manager.backends.local import LocalBackend
from manager.loop import Manager
from manager.policy import ScalingPolicy
from manager.settings import ManagerSettings
from manager.targets import JobTypeConfig, LocalTarget
from shared.client import ShoalClient
from tests.manager.conftest import API_URL
from tests.webapi.conftest import IssuedKey

TICK = 0.2
TTL = 2.0


def manager(client: ShoalClient, holder: str) -> Manager:
    # max 0: these managers decide nothing but who is in charge.
    job = JobTypeConfig("TEST", ScalingPolicy(max=0), local=LocalTarget())
    settings = ManagerSettings(
        api_url=API_URL,
        api_key="unused",
        backend="local",
        job_types={"TEST": job},
        tick_seconds=TICK,
        lease_seconds=TTL,
    )
    backend = LocalBackend({"TEST": LocalTarget()}, api_url=API_URL, api_key="unused")
    return Manager(settings, ManagerApi(client), backend, holder=holder)


def test_one_holds_and_the_other_takes_over_within_ttl_plus_a_tick(
    api_key: Callable[..., IssuedKey], api_client: Callable[[str], ShoalClient]
) -> None:
    key = api_key(("MANAGER",)).key
    first, second = manager(api_client(key), "first"), manager(api_client(key), "second")
    assert first.tick().held
    assert not second.tick().held
    for _ in range(3):  # the holder keeps renewing; the other stays passive
        time.sleep(TICK)
        assert first.tick().held and not second.tick().held
    assert first.metrics.registry.get_sample_value("shoal_manager_lease_held") == 1
    assert second.metrics.registry.get_sample_value("shoal_manager_lease_held") == 0

    stopped_renewing = time.monotonic()  # the first manager dies without releasing
    while not second.tick().held:
        assert time.monotonic() - stopped_renewing < TTL + TICK + 0.5, "no takeover"
        time.sleep(TICK)
    assert time.monotonic() - stopped_renewing >= TTL - 0.5  # not before the lease ran out
    assert not first.tick().held  # it comes back: now it is the passive one


def test_a_clean_shutdown_releases_the_lease_at_once(
    api_key: Callable[..., IssuedKey], api_client: Callable[[str], ShoalClient]
) -> None:
    key = api_key(("MANAGER",)).key
    first, second = manager(api_client(key), "first"), manager(api_client(key), "second")
    assert first.tick().held and not second.tick().held
    first.close()
    assert second.tick().held
