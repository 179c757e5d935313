"""What attempts used and cost: per job, batch, workflow, the usage reports, a user's
spending since a date (budgets), an estimate before a submission, and the prices.

An attempt uses its task size (vCPU, memory GB) for its run time, claim to end, each
attempt on its own whatever its outcome; cost is vCPU-hours × the price per vCPU-hour
plus GB-hours × the price per GB-hour of its capacity in the connection's price region
(sql/usage.py). This is the agreed store interface of issue 28: ``spent`` and
``estimate`` are what budgets build on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from shared.enums import Capacity
from shared.jobtypes import JobTypeSpec
from webapi.store.prepared import text
from webapi.store.sql import usage as sql

CURRENCY = "USD"
# The estimate's sample: a type's latest succeeded jobs.
RECENT_SAMPLE = 100
BY = sql.BY
HOUR = Decimal(3600)
# An AWS region's name, such as us-east-1.
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True)
class Usage:
    attempts: int
    run_seconds: Decimal
    vcpu_seconds: Decimal
    gb_seconds: Decimal
    cost: Decimal

    @classmethod
    def from_row(cls, row: Any) -> Usage:
        return cls(
            attempts=int(row["attempts"] or 0),
            run_seconds=Decimal(row["run_seconds"] or 0),
            vcpu_seconds=Decimal(row["vcpu_seconds"] or 0),
            gb_seconds=Decimal(row["gb_seconds"] or 0),
            cost=Decimal(row["cost"] or 0),
        )


NOTHING = Usage(0, Decimal(0), Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    usage: Usage


@dataclass(frozen=True)
class Report:
    rows: list[ReportRow]
    total: Usage


@dataclass(frozen=True)
class AttemptUsage:
    run_seconds: Decimal
    vcpu_seconds: Decimal
    gb_seconds: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Spent:
    """What a user's attempts used since a date: money and vCPU-seconds."""

    cost: Decimal
    vcpu_seconds: Decimal


@dataclass(frozen=True)
class Estimate:
    """What ``inputs`` jobs of a type should cost: per job ``run_seconds`` (the median of
    the type's recent succeeded attempts, basis ``recent``, or with none its run-time
    limit, basis ``timeout``, an upper bound) at the type's task size, on-demand."""

    job_type: str
    inputs: int
    basis: str
    sample_size: int
    run_seconds: Decimal
    vcpu: Decimal
    memory_gb: Decimal
    vcpu_seconds: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Price:
    region: str
    capacity: Capacity
    vcpu_hour: Decimal
    gb_hour: Decimal
    updated_at: datetime | None = None
    updated_by: int | None = None


@dataclass(frozen=True)
class PriceOf:
    """One capacity's price in the region in force."""

    region: str
    vcpu_hour: Decimal
    gb_hour: Decimal

    def cost(self, vcpu_seconds: Decimal, gb_seconds: Decimal) -> Decimal:
        return (vcpu_seconds * self.vcpu_hour + gb_seconds * self.gb_hour) / HOUR


def job_attempts(conn: Connection, job_id: int) -> dict[int, AttemptUsage]:
    """Each attempt of a job (by assignment id): what it used so far."""
    rows = conn.execute(text(sql.JOB_ATTEMPTS), {"job_id": job_id}).mappings()
    return {
        r["id"]: AttemptUsage(
            Decimal(r["run_seconds"]),
            Decimal(r["vcpu_seconds"]),
            Decimal(r["gb_seconds"]),
            Decimal(r["cost"]),
        )
        for r in rows
    }


def total(attempts: Iterable[AttemptUsage]) -> Usage:
    """What these attempts used together (a job's: ``job_attempts``)."""
    return _total([Usage(1, a.run_seconds, a.vcpu_seconds, a.gb_seconds, a.cost) for a in attempts])


def batch_usage(conn: Connection, batch_id: int) -> Usage:
    """What the jobs a batch created used so far."""
    row = conn.execute(text(sql.BATCH_USAGE), {"batch_id": batch_id}).mappings().one()
    return Usage.from_row(row)


def workflow_usage(conn: Connection, workflow_id: int) -> Usage:
    """What a workflow's jobs used so far."""
    row = conn.execute(text(sql.WORKFLOW_USAGE), {"workflow_id": workflow_id}).mappings().one()
    return Usage.from_row(row)


def report(
    conn: Connection, by: str, since: datetime, until: datetime, user_id: int | None = None
) -> Report:
    """The ended attempts of the hours from ``since``'s to before ``until``, grouped
    ``by`` (one of ``BY``), everyone's or one user's; costliest first (by day: by day)."""
    statement = sql.REPORTS[(by, user_id is not None)]
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    m_from, m_to = _whole_months(start, until.astimezone(UTC))
    params = {
        "since": start,
        "until": until,
        "m_from": m_from,
        "m_to": m_to,
        "user_id": user_id,
    }
    rows = [
        ReportRow(r["key"], r["label"], Usage.from_row(r))
        for r in conn.execute(text(statement), params).mappings()
    ]
    return Report(rows, _total([row.usage for row in rows]))


def _whole_months(start: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole months from ``start`` to ``until`` (UTC); none: both ``start``."""
    first = start.replace(day=1, hour=0)
    if first < start:
        first = _next_month(first)
    last = until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else (start, start)


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


def _total(usages: Sequence[Usage]) -> Usage:
    return Usage(
        attempts=sum(u.attempts for u in usages),
        run_seconds=sum((u.run_seconds for u in usages), Decimal(0)),
        vcpu_seconds=sum((u.vcpu_seconds for u in usages), Decimal(0)),
        gb_seconds=sum((u.gb_seconds for u in usages), Decimal(0)),
        cost=sum((u.cost for u in usages), Decimal(0)),
    )


def compact(conn: Connection) -> None:
    """Fold the rollup's rows of the days before today into one row per day and key, and
    into the month and user-day sums (housekeeping, hourly)."""
    conn.execute(text(sql.COMPACT))


def spent(conn: Connection, user_id: int, since: datetime) -> Spent:
    """What the user's attempts used since ``since`` (from the hour it falls in): those
    that ended, plus all of the run so far of those still running."""
    row = conn.execute(text(sql.SPENT), {"user_id": user_id, "since": since}).mappings().one()
    return Spent(cost=Decimal(row["cost"]), vcpu_seconds=Decimal(row["vcpu_seconds"]))


def estimate(conn: Connection, job_type: JobTypeSpec, inputs: int) -> Estimate:
    """What ``inputs`` jobs of ``job_type`` should use and cost (see ``Estimate``)."""
    row = (
        conn.execute(text(sql.RECENT_RUN_TIME), {"type": job_type.name, "sample": RECENT_SAMPLE})
        .mappings()
        .one()
    )
    sample = int(row["n"])
    if sample:
        basis, per_job = "recent", Decimal(str(row["median"]))
    else:
        basis, per_job = "timeout", Decimal(job_type.timeout_seconds)
    vcpu, memory_gb = Decimal(str(job_type.vcpu)), Decimal(str(job_type.memory_gb))
    price = prices(conn).get(Capacity.ON_DEMAND)
    run = per_job * inputs
    cost = Decimal(0) if price is None else price.cost(run * vcpu, run * memory_gb)
    return Estimate(
        job_type=job_type.name,
        inputs=inputs,
        basis=basis,
        sample_size=sample,
        run_seconds=per_job,
        vcpu=vcpu,
        memory_gb=memory_gb,
        vcpu_seconds=run * vcpu,
        cost=cost,
    )


def prices(conn: Connection) -> dict[Capacity, PriceOf]:
    """The prices in force (the connection's region), per capacity."""
    rows = conn.execute(text(sql.PRICES)).mappings()
    return {
        Capacity(r["capacity"]): PriceOf(r["region"], r["vcpu_hour"], r["gb_hour"]) for r in rows
    }


def all_prices(conn: Connection) -> list[Price]:
    """Every region's prices, by region and capacity."""
    return [
        Price(
            region=r["region"],
            capacity=Capacity(r["capacity"]),
            vcpu_hour=r["vcpu_hour"],
            gb_hour=r["gb_hour"],
            updated_at=r["updated_at"],
            updated_by=r["updated_by"],
        )
        for r in conn.execute(text(sql.ALL_PRICES)).mappings()
    ]


def set_price(conn: Connection, price: Price, actor_id: int | None) -> Price | None:
    """Add or change one region's capacity price; returns the one it replaced, if any."""
    key = {"region": price.region, "capacity": price.capacity.value}
    old = conn.execute(text(sql.PRICE_FOR_UPDATE), key).mappings().first()
    conn.execute(
        text(sql.SET_PRICE),
        {**key, "vcpu_hour": price.vcpu_hour, "gb_hour": price.gb_hour, "actor_id": actor_id},
    )
    if old is None:
        return None
    return Price(price.region, price.capacity, old["vcpu_hour"], old["gb_hour"])
