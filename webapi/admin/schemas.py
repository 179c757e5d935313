"""Bodies of the admin compute routes and the manager's routes."""

from __future__ import annotations

import marshmallow as ma

from webapi.schemas import Strict

MAX_DESIRED = 10


class ScaleBody(Strict):
    desiredCount = ma.fields.Integer(  # noqa: N815 - wire name
        required=True, strict=True, validate=ma.validate.Range(min=0, max=MAX_DESIRED)
    )


class Message(ma.Schema):
    message = ma.fields.String()


class ScaleOut(Message):
    desiredCount = ma.fields.Integer()  # noqa: N815


class RedeployOut(Message):
    generation = ma.fields.Integer(metadata={"description": "Local backend only"})


class Deployment(ma.Schema):
    status = ma.fields.String()
    taskDefinition = ma.fields.String()  # noqa: N815
    desiredCount = ma.fields.Integer()  # noqa: N815
    pendingCount = ma.fields.Integer()  # noqa: N815
    runningCount = ma.fields.Integer()  # noqa: N815
    failedTasks = ma.fields.Integer()  # noqa: N815
    rolloutState = ma.fields.String(allow_none=True)  # noqa: N815
    rolloutStateReason = ma.fields.String(allow_none=True)  # noqa: N815


class ServiceEvent(ma.Schema):
    createdAt = ma.fields.String()  # noqa: N815
    message = ma.fields.String()


class StatusOut(ma.Schema):
    runningCount = ma.fields.Integer()  # noqa: N815
    pendingCount = ma.fields.Integer()  # noqa: N815
    desiredCount = ma.fields.Integer()  # noqa: N815
    deployments = ma.fields.List(ma.fields.Nested(Deployment))
    events = ma.fields.List(ma.fields.Nested(ServiceEvent), metadata={"description": "≤ 5"})
    serviceStatus = ma.fields.String()  # noqa: N815


class WorkerSchema(Strict):
    taskArn = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2048))  # noqa: N815
    jobTypes = ma.fields.List(  # noqa: N815
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)), required=True
    )
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["STARTING", "RUNNING", "STOPPING"])
    )
    startedAt = ma.fields.String(required=True, validate=ma.validate.Length(max=64))  # noqa: N815


class WorkersOut(ma.Schema):
    workers = ma.fields.List(ma.fields.Nested(WorkerSchema))
    maxWorkers = ma.fields.Integer(  # noqa: N815 - wire name
        allow_none=True,
        metadata={
            "description": "The local backend's cap: at most this many workers at once, started "
            "as jobs wait (what /api/admin/status calls desiredCount); null on ECS, whose "
            "desiredCount is the standing service's own"
        },
    )
    reportedAt = ma.fields.String(  # noqa: N815
        allow_none=True, metadata={"description": "When the manager last reported (null: never)"}
    )
    stale = ma.fields.Boolean(
        metadata={
            "description": "The manager could not read the fleet back from its backend at its"
            " last tick: these are the workers it last read, plus those it launched since"
        }
    )
    readAt = ma.fields.String(  # noqa: N815
        allow_none=True, metadata={"description": "When the fleet was last read back whole"}
    )
    ageSeconds = ma.fields.Float(  # noqa: N815
        allow_none=True, metadata={"description": "Seconds since readAt, at this answer"}
    )
    error = ma.fields.String(
        allow_none=True, metadata={"description": "Why the last read failed (when stale)"}
    )


class FleetBody(Strict):
    holder = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=400),
        metadata={"description": "The lease's holder, as it took the lease"},
    )
    workers = ma.fields.List(
        ma.fields.Nested(WorkerSchema), required=True, validate=ma.validate.Length(max=10_000)
    )
    failedTasks = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0))  # noqa: N815
    stale = ma.fields.Boolean(
        load_default=False,
        truthy={True},
        falsy={False},
        metadata={"description": "The backend could not be read this tick: a partial view"},
    )
    readAt = ma.fields.DateTime(  # noqa: N815
        load_default=None,
        allow_none=True,
        metadata={"description": "When the fleet was last read back whole"},
    )
    error = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=1000)
    )


class FleetOut(ma.Schema):
    workers = ma.fields.Integer(metadata={"description": "How many workers were recorded"})


class LeaseBody(Strict):
    holder = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=400))
    ttlSeconds = ma.fields.Float(  # noqa: N815
        required=True, validate=ma.validate.Range(min=1, max=3600)
    )


class LeaseOut(ma.Schema):
    held = ma.fields.Boolean()
    holder = ma.fields.String(allow_none=True)
    expiresAt = ma.fields.String(allow_none=True)  # noqa: N815


class ReleaseQuery(Strict):
    holder = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=400))


class ReleaseOut(ma.Schema):
    released = ma.fields.Boolean()


class ConfigOut(ma.Schema):
    desiredCount = ma.fields.Integer(  # noqa: N815
        metadata={"description": "Most local workers at once (local backend)"}
    )
    generation = ma.fields.Integer(metadata={"description": "Redeploy counter (local backend)"})


_TASK_ARN = ma.validate.Length(min=1, max=2048)


class ContactsBody(Strict):
    workers = ma.fields.List(
        ma.fields.String(validate=_TASK_ARN),
        required=True,
        validate=ma.validate.Length(max=10_000),
        metadata={"description": "Worker identities (the ecsTaskArn each claims with)"},
    )


class ContactOut(ma.Schema):
    taskArn = ma.fields.String()  # noqa: N815
    silentSeconds = ma.fields.Float(  # noqa: N815
        allow_none=True,
        metadata={
            "description": "Seconds since the API last heard from it (0 while a claim of it"
            " may still be waiting); null: never heard from"
        },
    )
    lost = ma.fields.Boolean(metadata={"description": "A manager declared it lost"})


class ContactsOut(ma.Schema):
    workers = ma.fields.List(ma.fields.Nested(ContactOut))


class LostWorkerSchema(Strict):
    taskArn = ma.fields.String(required=True, validate=_TASK_ARN)  # noqa: N815
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    platform = ma.fields.Boolean(
        required=True,
        truthy={True},
        falsy={False},
        metadata={
            "description": "The platform took it (Spot, a host, a kill from outside), not its"
            " job: its attempts do not count against maxAttempts (up to maxPlatformRetries)"
        },
    )


class LostBody(Strict):
    holder = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=400))
    workers = ma.fields.List(
        ma.fields.Nested(LostWorkerSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=1000),
    )


class LostOut(ma.Schema):
    taskArn = ma.fields.String()  # noqa: N815
    requeued = ma.fields.List(ma.fields.Integer(), metadata={"description": "Job ids"})
    timedOut = ma.fields.List(ma.fields.Integer(), metadata={"description": "Job ids"})  # noqa: N815
    spared = ma.fields.Integer(metadata={"description": "Attempts not counted"})


class LostResult(ma.Schema):
    workers = ma.fields.List(ma.fields.Nested(LostOut))
