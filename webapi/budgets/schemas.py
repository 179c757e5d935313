"""The bodies of ``/api/budgets``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from webapi.schemas import Strict, UtcDateTime

MAX_LIMIT = 10**8  # the columns hold 8 digits before the point


def _limit(description: str) -> ma.fields.Decimal:
    return ma.fields.Decimal(
        required=True,
        allow_none=True,
        allow_nan=False,
        as_string=False,
        places=6,  # rounded as the column rounds it, then checked: the column always holds it
        validate=ma.validate.Range(min=0, max=MAX_LIMIT, max_inclusive=False),
        # apispec would write a Decimal field's bounds as strings.
        metadata={
            "description": description,
            "type": "number",
            "minimum": 0,
            "maximum": MAX_LIMIT,
            "exclusiveMaximum": True,
        },
    )


class BudgetBody(Strict):
    """A budget's limits (null: none in that unit; at least one is set)."""

    cost = _limit("USD a month; past it, submissions get 429.")
    vcpuHours = _limit("vCPU-hours a month; past it, submissions get 429.")  # noqa: N815
    warnAt = ma.fields.Decimal(  # noqa: N815 - wire name
        load_default=None,
        allow_nan=False,
        as_string=False,
        places=3,  # as stored: a share that rounds to 0 is refused, not stored as 0
        validate=ma.validate.Range(min=0, max=1, min_inclusive=False),
        metadata={
            "description": "The share of a limit that sends the month's warning (0 < warnAt ≤ 1,"
            " default 0.8).",
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": 1,
        },
    )

    @ma.validates_schema
    def _one_limit(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("cost") is None and data.get("vcpuHours") is None:
            raise ma.ValidationError(
                "Set cost or vcpuHours (or both); to remove a budget, DELETE it.",
                field_name="cost",
            )


class Limits(ma.Schema):
    cost = ma.fields.Float(allow_none=True)
    vcpuHours = ma.fields.Float(allow_none=True)  # noqa: N815 - wire name


class Figures(ma.Schema):
    cost = ma.fields.Float(metadata={"description": "USD, to 6 places."})
    vcpuHours = ma.fields.Float()  # noqa: N815 - wire name


class BudgetOut(ma.Schema):
    """A budget as set: a user's (``userId``) or the default (``userId`` null)."""

    userId = ma.fields.Integer(allow_none=True)  # noqa: N815 - wire name
    limit = ma.fields.Nested(Limits)
    warnAt = ma.fields.Float()  # noqa: N815 - wire name
    updatedAt = UtcDateTime()  # noqa: N815 - wire name


class BudgetEnvelope(ma.Schema):
    budget = ma.fields.Nested(BudgetOut, allow_none=True)


class BudgetsOut(ma.Schema):
    budgets = ma.fields.List(ma.fields.Nested(BudgetOut))


class StandingOut(ma.Schema):
    """A user's month under their budget (their own, else the default)."""

    period = ma.fields.String(metadata={"description": "YYYY-MM, UTC."})
    limit = ma.fields.Nested(Limits, metadata={"description": "Both null: no budget."})
    warnAt = ma.fields.Float()  # noqa: N815 - wire name
    spent = ma.fields.Nested(Figures, metadata={"description": "Used this month so far."})
    committed = ma.fields.Nested(
        Figures,
        metadata={"description": "Spent plus the estimate of the jobs not yet ended."},
    )
    state = ma.fields.String(metadata={"description": "ok, warning or exceeded."})
    source = ma.fields.String(
        allow_none=True, metadata={"description": "user, default, or null: no budget."}
    )
