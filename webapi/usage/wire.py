"""The wire shape of usage, shared by the usage routes and the job, batch and workflow
answers: camelCase, numbers as JSON numbers, money in USD rounded to 6 places, seconds
to 3."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma

from webapi.store import usage as store
from webapi.store.records import AssignmentRecord

MONEY = Decimal("0.000001")
SECONDS = Decimal("0.001")


def money(value: Decimal) -> float:
    return float(value.quantize(MONEY))


def seconds(value: Decimal) -> float:
    return float(value.quantize(SECONDS))


def usage_wire(usage: store.Usage) -> dict[str, Any]:
    """One ``usage`` object: what attempts used, and its cost."""
    return {
        "attempts": usage.attempts,
        "runSeconds": seconds(usage.run_seconds),
        "vcpuSeconds": seconds(usage.vcpu_seconds),
        "gbSeconds": seconds(usage.gb_seconds),
        "cost": money(usage.cost),
        "currency": store.CURRENCY,
    }


class UsageOut(ma.Schema):
    attempts = ma.fields.Integer(metadata={"description": "Attempts counted (each retry)"})
    runSeconds = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "Their run time, claim to end (a running one: to now)"}
    )
    vcpuSeconds = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "Run time × each attempt's vCPU"}
    )
    gbSeconds = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "Run time × each attempt's memory (GB)"}
    )
    cost = ma.fields.Float(
        metadata={"description": "vCPU-hours and GB-hours at the prices in force (6 places)"}
    )
    currency = ma.fields.String(metadata={"description": "Always USD"})


def attempt_usage(assignment: AssignmentRecord, used: store.AttemptUsage | None) -> dict[str, Any]:
    """What one attempt ran on, for how long, and its cost (the job detail's assignments)."""
    return {
        "vcpu": float(assignment.vcpu),
        "memoryGb": float(assignment.memory_gb),
        "capacity": assignment.capacity.value,
        "runSeconds": None if used is None else seconds(used.run_seconds),
        "cost": None if used is None else money(used.cost),
    }


class AttemptUsageOut(ma.Schema):
    vcpu = ma.fields.Float(metadata={"description": "The task's vCPU"})
    memoryGb = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "The task's memory (GB)"}
    )
    capacity = ma.fields.String(metadata={"description": "on_demand, spot or local"})
    runSeconds = ma.fields.Float(  # noqa: N815 - wire name
        allow_none=True, metadata={"description": "Claim to end (running: to now)"}
    )
    cost = ma.fields.Float(allow_none=True, metadata={"description": "USD, 6 places"})
