"""The usage page: a period's cost and vCPU-hours per day, the top job types (and, for
admins, the top users), and the totals. A researcher sees their own usage; an admin sees
everyone's, or one user's (``?user=ID``).

The figures are the API's own (``GET /api/usage``), read from the hourly rollup: three
reports per page (by day, type and user), never a query per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from shared.errors import Forbidden, InvalidInput
from webapi.jobs.user_routes import USERS
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.ui.usage_chart import Day, day_chart
from webapi.ui.usage_data import usage_report

TOP = 10
MAX_DAYS = 366
# Days a period may name: any a job can have run on, and none whose next day is past
# what a date can hold.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(9998, 12, 31)
USER_ID, MAX_USER_ID = re.compile(r"[0-9]{1,10}"), 2**31 - 1  # as the API's ``user``
PERIODS = {"this-month": "This month", "last-month": "Last month", "custom": "From … to …"}


@dataclass(frozen=True)
class Period:
    choice: str
    first: date  # the first day shown
    last: date  # the last day shown (inclusive)
    start: datetime
    end: datetime  # exclusive

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def period_of(args: dict[str, str], now: datetime) -> Period:
    """The period the query asks for; this month so far by default."""
    choice = args.get("period") or ("custom" if args.get("from") else "this-month")
    month = now.date().replace(day=1)
    if choice == "this-month":
        return Period(choice, month, now.date(), _midnight(month), now)
    if choice == "last-month":
        first = (month - timedelta(days=1)).replace(day=1)
        return Period(choice, first, month - timedelta(days=1), _midnight(first), _midnight(month))
    if choice != "custom":
        _refuse("period", f"period must be one of {', '.join(PERIODS)}.")
    first = _day(args, "from", None)
    last = _day(args, "to", now.date())
    if first > last:
        _refuse("from", "from must not be after to.")
    if (last - first).days + 1 > MAX_DAYS:
        _refuse("to", f"A period is at most {MAX_DAYS} days.")
    return Period(choice, first, last, _midnight(first), _midnight(last + timedelta(days=1)))


def _day(args: dict[str, str], name: str, default: date | None) -> date:
    raw = args.get(name, "").strip()
    if not raw and default is not None:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        _refuse(name, f"{name} must be a date (YYYY-MM-DD).")
    if not FIRST_DAY <= day <= LAST_DAY:
        _refuse(name, f"{name} must be from {FIRST_DAY} to {LAST_DAY}.")
    return day


def _refuse(field: str, message: str) -> None:
    raise InvalidInput(message, errors={field: [message]})


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _user_filter(raw: str | None) -> int | None:
    """Whose usage: ``user=ID`` for an admin, the viewer's own for everyone else."""
    principal = current_session().principal
    if raw is None or raw == "":
        return None if principal.is_admin else principal.user_id
    if not USER_ID.fullmatch(raw) or not 1 <= int(raw) <= MAX_USER_ID:
        _refuse("user", "user must be a user id.")
    if not principal.can_access(int(raw)):
        raise Forbidden("Only admins may see other users' usage.")
    return int(raw)


@blp.route("/usage")
@page(*USERS)
def usage() -> ResponseReturnValue:
    args = request.args.to_dict()
    try:
        period = period_of(args, datetime.now(UTC))
        user_id = _user_filter(args.get("user"))
    except InvalidInput as error:
        return _render(args, problem=error.message, status=400)
    by_day = usage_report("day", period.start, period.end, user_id)
    by_type = usage_report("type", period.start, period.end, user_id)
    admin_all = current_session().principal.is_admin and user_id is None
    by_user = usage_report("user", period.start, period.end, user_id) if admin_all else None
    return _render(
        args,
        period=period,
        user_id=user_id,
        total=by_day["total"],
        currency=by_day["currency"],
        chart=day_chart(_days(period, by_day["rows"])),
        types=_top(by_type["rows"]),
        type_count=len(by_type["rows"]),
        users=_top(by_user["rows"]) if by_user else None,
        user_count=len(by_user["rows"]) if by_user else 0,
    )


def _days(period: Period, rows: list[dict[str, Any]]) -> list[Day]:
    """Every day of the period, the days without usage as zeros."""
    found = {row["key"]: row for row in rows}
    zero = {"cost": 0, "vcpuSeconds": 0}
    return [
        Day(
            d,
            Decimal(str((row := found.get(d.isoformat(), zero))["cost"])),
            Decimal(str(row["vcpuSeconds"])),
        )
        for d in period.days
    ]


def _top(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The costliest (the reports come costliest first)."""
    return rows[:TOP]


def _render(args: dict[str, str], *, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_page(
        "usage.html",
        status,
        args=args,
        period_args={k: v for k in ("period", "from", "to") if (v := args.get(k))},
        periods=PERIODS,
        choice=args.get("period") or ("custom" if args.get("from") else "this-month"),
        **context,
    )
