"""What the admin routes act on: the standing ECS worker service, or the local workers.

Both answer in the ECS service's shape (the contract's ``GET /api/admin/status``).
The local backend keeps its settings in ``compute_state`` ("local": desiredCount,
generation, the last admin events) and reads its workers from the manager's
fleet report ("fleet").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Engine

from shared.errors import Unavailable
from webapi.admin.settings import ComputeSettings
from webapi.schemas import utc_iso
from webapi.store import compute_state

FLEET = "fleet"
LOCAL = "local"
DEFAULT_LOCAL_DESIRED = 10
EVENTS_KEPT = 5
# A fleet report older than this means no manager is running.
FLEET_FRESH = timedelta(seconds=60)


class ComputeControl(Protocol):
    def status(self) -> dict[str, Any]: ...

    def scale(self, desired_count: int) -> dict[str, Any]: ...

    def redeploy(self) -> dict[str, Any]: ...


def reported_fleet(engine: Engine) -> dict[str, Any]:
    """The manager's last fleet report, with ``reportedAt``; empty when none yet."""
    found = compute_state.read_state(engine, FLEET)
    if found is None:
        return {"workers": [], "failedTasks": 0, "reportedAt": None}
    return {**found.value, "reportedAt": found.updated_at}


def fleet_view(report: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Whether a fleet report is a partial view, and how old its last whole read is."""
    stale = bool(report.get("stale", False))
    reported = report["reportedAt"]
    # A manager that does not say when it read the fleet read it when it reported.
    raw = report.get("readAt") or (utc_iso(reported) if reported and not stale else None)
    read_at = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    return {
        "stale": stale,
        "readAt": raw,
        "ageSeconds": round((now - read_at).total_seconds(), 1) if read_at else None,
        "error": report.get("error"),
    }


def local_settings(engine: Engine) -> dict[str, Any]:
    found = compute_state.read_state(engine, LOCAL)
    value = found.value if found else {}
    return {
        "desiredCount": int(value.get("desiredCount", DEFAULT_LOCAL_DESIRED)),
        "generation": int(value.get("generation", 0)),
        "events": list(value.get("events", [])),
    }


def _with_event(value: dict[str, Any], message: str) -> dict[str, Any]:
    event = {"createdAt": utc_iso(datetime.now(UTC)), "message": message}
    return {**value, "events": [event, *value.get("events", [])][:EVENTS_KEPT]}


class LocalControl:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def status(self) -> dict[str, Any]:
        fleet = reported_fleet(self.engine)
        local = local_settings(self.engine)
        workers = fleet["workers"]
        running = sum(w["status"] == "RUNNING" for w in workers)
        pending = sum(w["status"] == "STARTING" for w in workers)
        stopping = sum(w["status"] == "STOPPING" for w in workers)
        reported = fleet["reportedAt"]
        fresh = reported is not None and datetime.now(UTC) - reported < FLEET_FRESH
        deployment = {
            "status": "PRIMARY",
            "taskDefinition": f"local:generation-{local['generation']}",
            "desiredCount": local["desiredCount"],
            "pendingCount": pending,
            "runningCount": running,
            "failedTasks": int(fleet.get("failedTasks", 0)),
            "rolloutState": "IN_PROGRESS" if stopping else "COMPLETED",
            "rolloutStateReason": (
                f"{stopping} worker(s) finishing their current job before exiting"
                if stopping
                else "All local workers run the current generation."
            ),
        }
        return {
            "runningCount": running,
            "pendingCount": pending,
            "desiredCount": local["desiredCount"],
            "deployments": [deployment],
            "events": local["events"][:EVENTS_KEPT],
            "serviceStatus": "ACTIVE" if fresh else "INACTIVE",
        }

    def scale(self, desired_count: int) -> dict[str, Any]:
        def change(value: dict[str, Any]) -> dict[str, Any]:
            message = f"desiredCount set to {desired_count}" + (
                " (local work paused)" if desired_count == 0 else ""
            )
            return _with_event({**value, "desiredCount": desired_count}, message)

        compute_state.update_state(self.engine, LOCAL, change)
        return {
            "message": f"Local workers scaled to {desired_count}",
            "desiredCount": desired_count,
        }

    def redeploy(self) -> dict[str, Any]:
        def change(value: dict[str, Any]) -> dict[str, Any]:
            generation = int(value.get("generation", 0)) + 1
            return _with_event(
                {**value, "generation": generation}, f"redeploy: generation {generation}"
            )

        new = compute_state.update_state(self.engine, LOCAL, change)
        return {"message": "Local workers restart gracefully", "generation": new["generation"]}


class EcsControl:
    """The standing worker service on ECS, through DescribeServices and UpdateService."""

    def __init__(self, settings: ComputeSettings, client: Any = None) -> None:
        self.cluster = settings.ecs_cluster
        self.service = settings.ecs_service
        if client is None:
            import boto3  # noqa: PLC0415 - boto3 (~0.2 s) only when the fleet runs on ECS

            client = boto3.client("ecs", region_name=settings.aws_region)
        self.ecs = client

    def _aws(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.ecs, operation)(cluster=self.cluster, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"ECS {operation} failed: {error}") from None

    def status(self) -> dict[str, Any]:
        answer = self._aws("describe_services", services=[self.service])
        services = answer.get("services", [])
        if not services:
            raise Unavailable(f"ECS service {self.service} not found in cluster {self.cluster}")
        [service] = services
        return {
            "runningCount": service.get("runningCount", 0),
            "pendingCount": service.get("pendingCount", 0),
            "desiredCount": service.get("desiredCount", 0),
            "deployments": [_deployment(d) for d in service.get("deployments", [])],
            "events": [
                {"createdAt": _iso(e.get("createdAt")), "message": e.get("message", "")}
                for e in service.get("events", [])[:EVENTS_KEPT]
            ],
            "serviceStatus": service.get("status", "UNKNOWN"),
        }

    def scale(self, desired_count: int) -> dict[str, Any]:
        self._aws("update_service", service=self.service, desiredCount=desired_count)
        return {"message": f"Service scaled to {desired_count}", "desiredCount": desired_count}

    def redeploy(self) -> dict[str, Any]:
        self._aws("update_service", service=self.service, forceNewDeployment=True)
        return {"message": "A new deployment of the service has started"}


def _deployment(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": raw.get("status"),
        "taskDefinition": raw.get("taskDefinition"),
        "desiredCount": raw.get("desiredCount", 0),
        "pendingCount": raw.get("pendingCount", 0),
        "runningCount": raw.get("runningCount", 0),
        "failedTasks": raw.get("failedTasks", 0),
        "rolloutState": raw.get("rolloutState"),
        "rolloutStateReason": raw.get("rolloutStateReason"),
    }


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return utc_iso(value)
    return None if value is None else str(value)
