"""The usage routes' queries and answers (the usage object itself is in wire.py)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from shared.enums import Capacity
from webapi.jobs.schemas import ListTime
from webapi.schemas import Strict, UtcDateTime
from webapi.store import usage as store
from webapi.usage.wire import UsageOut, money, seconds

MAX_INPUTS = 1_000_000  # a sweep's inputs, at most


class ReportQuery(Strict):
    by = ma.fields.String(
        load_default="user",
        validate=ma.validate.OneOf(store.BY),
        metadata={"description": "Group by user, type, batch or day (UTC)"},
    )
    # "from" is a Python keyword: the field is named by data_key.
    since = ListTime(
        data_key="from",
        metadata={"description": "From (ISO 8601; UTC if no zone); the start of this month"},
    )
    until = ListTime(
        data_key="to", metadata={"description": "To, before (ISO 8601; UTC if no zone); now"}
    )
    user = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Only this user's (admins; others see only their own)"},
    )


class ReportRowOut(UsageOut):
    key = ma.fields.String(
        metadata={"description": "The user's id, the type, the batch's id (0: none) or the day"}
    )
    label = ma.fields.String(metadata={"description": "The key as a reader names it"})


class ReportOut(ma.Schema):
    by = ma.fields.String()
    since = UtcDateTime(data_key="from")
    until = UtcDateTime(data_key="to")
    currency = ma.fields.String()
    rows = ma.fields.List(ma.fields.Nested(ReportRowOut))
    total = ma.fields.Nested(UsageOut)


class EstimateQuery(Strict):
    jobType = ma.fields.String(  # noqa: N815 - wire name
        required=True, validate=ma.validate.Length(min=1, max=64)
    )
    inputs = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=MAX_INPUTS),
        metadata={"description": "How many jobs (a sweep's inputs)"},
    )


class EstimateOut(ma.Schema):
    jobType = ma.fields.String()  # noqa: N815 - wire name
    inputs = ma.fields.Integer()
    basis = ma.fields.String(
        metadata={
            "description": "recent: the median run time of the type's latest succeeded"
            " attempts; timeout: none yet, its run-time limit (an upper bound)"
        }
    )
    sampleSize = ma.fields.Integer()  # noqa: N815 - wire name
    runSeconds = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "Per job"}
    )
    vcpu = ma.fields.Float()
    memoryGb = ma.fields.Float()  # noqa: N815 - wire name
    vcpuSeconds = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "All the jobs"}
    )
    cost = ma.fields.Float(metadata={"description": "All the jobs, on-demand"})
    currency = ma.fields.String()


def estimate_wire(estimate: store.Estimate) -> dict[str, Any]:
    return {
        "jobType": estimate.job_type,
        "inputs": estimate.inputs,
        "basis": estimate.basis,
        "sampleSize": estimate.sample_size,
        "runSeconds": seconds(estimate.run_seconds),
        "vcpu": float(estimate.vcpu),
        "memoryGb": float(estimate.memory_gb),
        "vcpuSeconds": seconds(estimate.vcpu_seconds),
        "cost": money(estimate.cost),
        "currency": store.CURRENCY,
    }


class PriceOut(ma.Schema):
    region = ma.fields.String()
    capacity = ma.fields.String(metadata={"description": "on_demand, spot or local"})
    vcpuHour = ma.fields.Float(  # noqa: N815 - wire name
        metadata={"description": "USD per vCPU-hour"}
    )
    gbHour = ma.fields.Float(metadata={"description": "USD per GB-hour"})  # noqa: N815
    updatedAt = UtcDateTime(allow_none=True)  # noqa: N815 - wire name
    updatedBy = ma.fields.Integer(  # noqa: N815 - wire name
        allow_none=True, metadata={"description": "The admin who set it (null: as shipped)"}
    )


class PricesOut(ma.Schema):
    region = ma.fields.String(metadata={"description": "The region whose prices apply"})
    currency = ma.fields.String()
    prices = ma.fields.List(ma.fields.Nested(PriceOut))


def price_wire(price: store.Price) -> dict[str, Any]:
    return {
        "region": price.region,
        "capacity": price.capacity.value,
        "vcpuHour": float(price.vcpu_hour),
        "gbHour": float(price.gb_hour),
        "updatedAt": price.updated_at,
        "updatedBy": price.updated_by,
    }


_PRICE = ma.validate.Range(min=0, max=1000)


def _price(description: str) -> ma.fields.Decimal:
    # Loaded as a Decimal; its range is written as numbers in the OpenAPI document
    # (apispec would write a Decimal field's bounds as strings).
    return ma.fields.Decimal(
        required=True,
        allow_nan=False,
        validate=_PRICE,
        metadata={
            "description": f"{description} (stored to 8 places)",
            "type": "number",
            "minimum": 0,
            "maximum": 1000,
        },
    )


class PriceBody(Strict):
    vcpuHour = _price("USD per vCPU-hour")  # noqa: N815 - wire name
    gbHour = _price("USD per GB-hour")  # noqa: N815 - wire name


CAPACITIES = tuple(c.value for c in Capacity)
