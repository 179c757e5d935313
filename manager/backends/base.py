"""The interface every compute backend offers the manager's loop."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class WorkerStatus(enum.StrEnum):
    STARTING = "STARTING"  # launched, cannot claim yet
    RUNNING = "RUNNING"  # can claim, or is working
    STOPPING = "STOPPING"  # asked to stop; finishing its current job


@dataclass(frozen=True)
class Worker:
    """One worker task or process, as read back from the backend."""

    task_arn: str
    job_types: tuple[str, ...]
    status: WorkerStatus
    started_at: datetime
    generation: int = 0

    @property
    def live(self) -> bool:
        """Counts as capacity: starting or running, not on its way out."""
        return self.status is not WorkerStatus.STOPPING

    def to_wire(self) -> dict[str, Any]:
        return {
            "taskArn": self.task_arn,
            "jobTypes": list(self.job_types),
            "status": self.status.value,
            "startedAt": self.started_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class LaunchFailure:
    """A launch that never gave a working worker: refused, or it stopped before it came up."""

    job_type: str
    reason: str
    task_arn: str | None = None


@dataclass(frozen=True)
class WorkerLost:
    """A worker that came up, ran, and then died (a signal, OOM, Spot interruption), or
    that stopped answering and was killed.

    ``task_arn`` is its identity, as it claims (``ecsTaskArn``). ``platform``: the
    platform took it (Spot, a host, a kill from outside), not its job: the attempts
    it held do not count against their jobs' ``maxAttempts``.
    """

    job_type: str
    reason: str
    task_arn: str | None = None
    platform: bool = False


class FleetUnavailable(Exception):
    """The backend could not be read back this tick (its API failed or was unreachable)."""


@dataclass(frozen=True)
class LaunchResult:
    launched: tuple[Worker, ...] = ()
    failures: tuple[LaunchFailure, ...] = ()


@dataclass(frozen=True)
class Fleet:
    """The workers alive now; failed starts and lost workers first seen since the last read."""

    workers: tuple[Worker, ...] = ()
    failures: tuple[LaunchFailure, ...] = field(default_factory=tuple)
    lost: tuple[WorkerLost, ...] = field(default_factory=tuple)

    def of_type(self, job_type: str) -> list[Worker]:
        return [worker for worker in self.workers if job_type in worker.job_types]


class ComputeBackend(Protocol):
    """Reads the fleet back on every call; keeps nothing the loop relies on in memory."""

    name: str

    def fleet(self) -> Fleet:
        """The fleet now; raises FleetUnavailable when the backend cannot be read."""

    def launch(self, job_type: str, count: int, generation: int = 0) -> LaunchResult: ...

    def stop(self, workers: Sequence[Worker], reason: str) -> None:
        """Ask workers to finish their current job and exit."""

    def kill(self, workers: Sequence[Worker], reason: str) -> list[WorkerLost]:
        """Stop workers that stopped answering, at once; each as lost (and why)."""

    def shutdown(self) -> None:
        """The manager is exiting: release what the backend holds on this machine."""
