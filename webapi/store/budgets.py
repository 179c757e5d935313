"""Budgets: a monthly limit per user (or the default for all) on what their submissions
commit, in money and/or vCPU-hours, and the gate that holds it.

``check`` runs in the creating transaction, beside the max-PENDING check, only when
new jobs are created (a cache hit runs nothing and costs nothing). A user without a
budget costs one index lookup. With one, their month's row in ``budget_months`` is
locked until the transaction ends, so their submissions are counted one after the
other and together never commit past the limit. Committed = what their attempts
used this month (``usage.spent``) + the estimate of their jobs not yet ended + the new
submission's estimate. The statements are in ``sql/budgets.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from shared.errors import InvalidInput, TooManyRequests
from shared.jobtypes import JobTypes, JobTypeSpec
from webapi.store import usage
from webapi.store.prepared import text
from webapi.store.records import Record
from webapi.store.sql import budgets as sql

log = logging.getLogger(__name__)
HOUR = Decimal(3600)
DEFAULT_WARN_AT = Decimal("0.8")


@dataclass(frozen=True)
class BudgetRecord(Record):
    id: int
    user_id: int | None  # None: the default
    cost_limit: Decimal | None
    vcpu_hours_limit: Decimal | None
    warn_at: Decimal
    updated_at: datetime


@dataclass(frozen=True)
class Figures:
    """Money (USD) and vCPU-hours."""

    cost: Decimal = Decimal(0)
    vcpu_hours: Decimal = Decimal(0)

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.cost + other.cost, self.vcpu_hours + other.vcpu_hours)


@dataclass(frozen=True)
class Standing:
    """A user's month under their budget: what is spent, and committed with their
    unfinished jobs (and a submission's estimate, when checking one)."""

    budget: BudgetRecord | None  # None: no budget, no limit
    month: date
    spent: Figures
    committed: Figures

    @property
    def state(self) -> str:
        """``exceeded`` at or past a limit, ``warning`` at or past warnAt of one."""
        shares = self.shares()
        if any(share >= 1 for share in shares):
            return "exceeded"
        warn_at = DEFAULT_WARN_AT if self.budget is None else self.budget.warn_at
        return "warning" if any(share >= warn_at for share in shares) else "ok"

    def shares(self) -> list[Decimal]:
        """Committed as a share of each limit (a zero limit: at it already)."""
        shares = []
        for committed, limit in self._pairs():
            if limit is not None:
                shares.append(committed / limit if limit else Decimal(1))
        return shares

    def _pairs(self) -> list[tuple[Decimal, Decimal | None]]:
        budget = self.budget
        if budget is None:
            return []
        return [
            (self.committed.cost, budget.cost_limit),
            (self.committed.vcpu_hours, budget.vcpu_hours_limit),
        ]


def month_of(now: datetime) -> date:
    """The calendar month (UTC) ``now`` is in, as its first day."""
    return now.astimezone(UTC).date().replace(day=1)


def budget_of(conn: Connection, user_id: int) -> BudgetRecord | None:
    """The user's own budget, else the default; None: no limit."""
    return BudgetRecord.first_of(conn.execute(text(sql.BUDGET_OF), {"user_id": user_id}))


def get(conn: Connection, user_id: int | None) -> BudgetRecord | None:
    """The budget set for the user (None: the default's), not falling back."""
    return BudgetRecord.first_of(conn.execute(text(sql.BUDGET_AT), {"user_id": user_id}))


def listing(conn: Connection) -> list[BudgetRecord]:
    """Every budget set, the default first."""
    return BudgetRecord.all_of(conn.execute(text(sql.LIST)))


def put(
    conn: Connection,
    user_id: int | None,
    *,
    cost_limit: Decimal | None,
    vcpu_hours_limit: Decimal | None,
    warn_at: Decimal,
    actor_id: int,
) -> BudgetRecord:
    """Set the user's budget (None: the default's); the next submission sees it."""
    params = {
        "user_id": user_id,
        "cost_limit": cost_limit,
        "vcpu_hours_limit": vcpu_hours_limit,
        "warn_at": warn_at,
        "actor_id": actor_id,
    }
    return BudgetRecord.from_row(conn.execute(text(sql.PUT), params).mappings().one())


def clear(conn: Connection, user_id: int | None) -> BudgetRecord | None:
    """Remove the user's budget (None: the default's); what it was, None if none."""
    return BudgetRecord.first_of(conn.execute(text(sql.CLEAR), {"user_id": user_id}))


def standing(
    conn: Connection, types: JobTypes, user_id: int, budget: BudgetRecord | None
) -> Standing:
    """The user's month now: spent, and committed with their jobs not yet ended (each
    estimated as a job of its type; one of a type no longer installed counts nothing)."""
    now = datetime.now(UTC)
    month = month_of(now)
    since = datetime(month.year, month.month, 1, tzinfo=UTC)
    used = usage.spent(conn, user_id, since)
    spent = Figures(used.cost, used.vcpu_seconds / HOUR)
    committed = spent
    for row in conn.execute(text(sql.OPEN_JOBS), {"user_id": user_id}):
        try:
            spec = types.known(row.type)
        except InvalidInput:
            continue
        committed += estimate(conn, spec, int(row.n))
    return Standing(budget, month, spent, committed)


def estimate(conn: Connection, spec: JobTypeSpec, jobs: int) -> Figures:
    """What ``jobs`` jobs of the type are estimated to use."""
    found = usage.estimate(conn, spec, jobs)
    return Figures(Decimal(found.cost), Decimal(found.vcpu_seconds) / HOUR)


def check(conn: Connection, types: JobTypes, user_id: int, spec: JobTypeSpec, adding: int) -> None:
    """Refuse (429) creating ``adding`` jobs of the type that would take the user's
    month past their budget; send the month's warning when they first pass warnAt.

    Call it in the creating transaction, just before the insert."""
    if budget_of(conn, user_id) is None:
        return
    month = conn.execute(
        text(sql.LOCK_MONTH), {"user_id": user_id, "month": month_of(datetime.now(UTC))}
    ).one()
    budget = budget_of(conn, user_id)  # as it is now that the month is ours
    if budget is None:
        return
    before = standing(conn, types, user_id, budget)
    new = estimate(conn, spec, adding)
    after = Standing(budget, before.month, before.spent, before.committed + new)
    _refuse_past_limit(before, after, new)
    if month.warned_at is None and after.state != "ok":
        _warn(conn, user_id, month.id, after)


def _refuse_past_limit(before: Standing, after: Standing, new: Figures) -> None:
    """429 when the user is at a limit already, or the submission would cross one."""
    budget = before.budget
    assert budget is not None
    limits: list[tuple[str, Decimal | None, Any]] = [
        ("cost", budget.cost_limit, lambda f: f.cost),
        ("vcpuHours", budget.vcpu_hours_limit, lambda f: f.vcpu_hours),
    ]
    for name, limit, of in limits:
        if limit is None:
            continue
        if of(before.committed) >= limit or of(after.committed) > limit:
            raise TooManyRequests(_refusal(name, limit, before, of, of(new)))


def _refusal(name: str, limit: Decimal, before: Standing, of: Any, new: Decimal) -> str:
    default = before.budget is None or before.budget.user_id is None
    whose = "the default budget" if default else "your budget"
    unit = money if name == "cost" else vcpu_hours
    return (
        f"Over budget: {whose} ({name}) allows {unit(limit)} in {before.month:%Y-%m};"
        f" {unit(of(before.spent))} spent, {unit(of(before.committed))} committed with your"
        f" unfinished jobs, and this submission's estimate of {unit(new)} would take it to"
        f" {unit(of(before.committed) + new)}; nothing was created. An admin can raise the"
        " limit (shoal budgets set)."
    )


def money(amount: Decimal) -> str:
    return f"{amount:.6f} USD"


def vcpu_hours(amount: Decimal) -> str:
    return f"{amount:.6f} vCPU-hours"


def _warn(conn: Connection, user_id: int, month_id: int, standing: Standing) -> None:
    """The month's ``budget.warning``, once: to the user's subscriptions, and the log."""
    if conn.execute(text(sql.WARNED), {"id": month_id}).first() is None:
        return
    data = {"budget": {"userId": user_id, **wire(standing)}}
    params = {"user_id": user_id, "month_id": month_id, "state": standing.state}
    conn.execute(text(sql.WARN_EVENT), {**params, "data": json.dumps(data)})
    log.info(
        "budget warning",
        extra={"action": "budget.warning", "user_id": user_id, "state": standing.state},
    )


def wire(standing: Standing) -> dict[str, Any]:
    """``GET /api/budgets/me``'s shape (numbers as floats: money to 6 places)."""
    budget = standing.budget
    return {
        "period": f"{standing.month:%Y-%m}",
        "limit": limits_wire(budget),
        "warnAt": float(DEFAULT_WARN_AT if budget is None else budget.warn_at),
        "spent": _figures(standing.spent),
        "committed": _figures(standing.committed),
        "state": standing.state,
    }


def limits_wire(budget: BudgetRecord | None) -> Mapping[str, float | None]:
    if budget is None:
        return {"cost": None, "vcpuHours": None}
    cost, hours = budget.cost_limit, budget.vcpu_hours_limit
    return {
        "cost": None if cost is None else float(cost),
        "vcpuHours": None if hours is None else float(hours),
    }


def _figures(figures: Figures) -> dict[str, float]:
    return {"cost": float(round(figures.cost, 6)), "vcpuHours": float(round(figures.vcpu_hours, 6))}
