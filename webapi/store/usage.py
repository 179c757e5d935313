"""Placeholder for the usage store (spent, estimate) until the accounting work lands.

Same signatures as agreed; spent is zero and the estimate is an hour
at a quarter vCPU and half a GB, at Fargate's on-demand prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

_VCPU, _GB = Decimal("0.25"), Decimal("0.5")
_VCPU_HOUR, _GB_HOUR = Decimal("0.04048"), Decimal("0.004445")


@dataclass(frozen=True)
class Spent:
    cost: Decimal
    vcpu_seconds: Decimal


@dataclass(frozen=True)
class Estimate:
    job_type: str
    inputs: int
    basis: str
    sample_size: int
    run_seconds: Decimal
    vcpu: Decimal
    memory_gb: Decimal
    vcpu_seconds: Decimal
    cost: Decimal
    currency: str = "USD"


def spent(conn: Connection, user_id: int, since: datetime) -> Spent:
    return Spent(Decimal(0), Decimal(0))


def estimate(conn: Connection, job_type: str, inputs: int) -> Estimate:
    run = Decimal(3600)
    vcpu_seconds = run * inputs * _VCPU
    cost = (vcpu_seconds * _VCPU_HOUR + run * inputs * _GB * _GB_HOUR) / 3600
    return Estimate(job_type, inputs, "timeout", 0, run, _VCPU, _GB, vcpu_seconds, round(cost, 6))
