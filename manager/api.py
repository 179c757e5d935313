"""The manager's side of the web API, over the one shared HTTP client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from manager.backends.base import Worker
from shared.client import ShoalClient

LEASE_PATH = "/api/manager/lease"


@dataclass(frozen=True)
class Lease:
    held: bool
    holder: str | None
    expires_at: str | None


@dataclass(frozen=True)
class ComputeConfig:
    """What an admin set for the local backend: the worker cap and the redeploy counter."""

    desired_count: int | None
    generation: int


@dataclass(frozen=True)
class TypeDemand:
    pending: int
    in_progress: int


class ManagerApi:
    def __init__(self, client: ShoalClient) -> None:
        self.client = client

    def acquire(self, holder: str, ttl_seconds: float) -> Lease:
        """Take or renew the singleton lease."""
        body = self.client.request(
            "POST", LEASE_PATH, json={"holder": holder, "ttlSeconds": ttl_seconds}
        )
        return Lease(
            held=bool(body["held"]), holder=body.get("holder"), expires_at=body.get("expiresAt")
        )

    def release(self, holder: str) -> None:
        self.client.request("DELETE", LEASE_PATH, params={"holder": holder})

    def demand(self) -> dict[str, TypeDemand]:
        return {
            name: TypeDemand(
                pending=int(c.get("pending", 0)), in_progress=int(c.get("inProgress", 0))
            )
            for name, c in self.client.queue().items()
        }

    def config(self) -> ComputeConfig:
        body: dict[str, Any] = self.client.request("GET", "/api/manager/config")
        desired = body.get("desiredCount")
        return ComputeConfig(
            desired_count=None if desired is None else int(desired),
            generation=int(body.get("generation", 0)),
        )

    def report(self, holder: str, workers: Sequence[Worker], failed: int) -> None:
        body = {"holder": holder, "workers": [w.to_wire() for w in workers], "failedTasks": failed}
        self.client.request("PUT", "/api/manager/fleet", json=body)
