"""The manager's side of the web API, over the one shared HTTP client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from manager.backends.base import Worker, WorkerLost
from shared.client import ShoalClient

LEASE_PATH = "/api/manager/lease"
CONTACTS_AT_ONCE = 1000  # worker identities per request: the body stays well under 1 MiB


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


@dataclass(frozen=True)
class Contact:
    """What the API knows of one worker: seconds since it last heard from it (None:
    never), and whether a manager already declared it lost."""

    silent_seconds: float | None
    lost: bool


@dataclass(frozen=True)
class FleetReading:
    """How the fleet in a report was read: whole now, or a partial view (``stale``)
    built on the last whole read, at ``read_at``."""

    stale: bool = False
    read_at: datetime | None = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        read_at = self.read_at.isoformat().replace("+00:00", "Z") if self.read_at else None
        return {"stale": self.stale, "readAt": read_at, "error": self.error}


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

    def report(
        self,
        holder: str,
        workers: Sequence[Worker],
        failed: int,
        reading: FleetReading | None = None,
    ) -> None:
        body = {
            "holder": holder,
            "workers": [w.to_wire() for w in workers],
            "failedTasks": failed,
            **(reading or FleetReading()).to_wire(),
        }
        self.client.request("PUT", "/api/manager/fleet", json=body)

    def contacts(self, identities: Sequence[str]) -> dict[str, Contact]:
        """How long the API has not heard from each worker (by its identity)."""
        found: dict[str, Contact] = {}
        for start in range(0, len(identities), CONTACTS_AT_ONCE):
            chunk = list(identities[start : start + CONTACTS_AT_ONCE])
            body = self.client.request(
                "POST", "/api/manager/workers/contacts", json={"workers": chunk}
            )
            for c in body.get("workers", []):
                silent = c.get("silentSeconds")
                found[c["taskArn"]] = Contact(
                    None if silent is None else float(silent), bool(c.get("lost"))
                )
        return found

    def declare_lost(self, holder: str, lost: Sequence[WorkerLost]) -> None:
        """Tell the API these workers are gone, and why: their attempts end at once."""
        workers = [
            {"taskArn": gone.task_arn, "reason": gone.reason[:500], "platform": gone.platform}
            for gone in lost
            if gone.task_arn
        ]
        if workers:
            body = {"holder": holder, "workers": workers}
            self.client.request("POST", "/api/manager/workers/lost", json=body)
