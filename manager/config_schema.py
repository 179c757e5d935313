"""Marshmallow schemas for the manager's settings document (camelCase keys)."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from manager.policy import ScalingPolicy
from manager.targets import (
    EcsTarget,
    JobTypeConfig,
    LocalTarget,
    ManagerDocument,
    RegisteredEcs,
)


class PolicySchema(Schema):
    class Meta:
        unknown = RAISE

    min = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))
    max = fields.Integer(load_default=5, validate=validate.Range(min=0, max=1000))
    cooldown_seconds = fields.Float(
        data_key="cooldownSeconds", load_default=30.0, validate=validate.Range(min=0, max=86400)
    )
    sensitivity = fields.Float(load_default=2.0, validate=validate.Range(min=0, max=1000))
    factor = fields.Float(
        load_default=3.0, validate=validate.Range(min=0, min_inclusive=False, max=1e6)
    )

    @validates_schema
    def _bounds(self, data: dict[str, Any], **_: Any) -> None:
        if data["min"] > data["max"]:
            raise ValidationError("Must not be greater than max.", "min")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ScalingPolicy:
        return ScalingPolicy(
            min=data["min"],
            max=data["max"],
            cooldown_seconds=data["cooldown_seconds"],
            sensitivity=data["sensitivity"],
            factor=data["factor"],
        )


class StrategyItemSchema(Schema):
    class Meta:
        unknown = RAISE

    capacity_provider = fields.String(
        data_key="capacityProvider", required=True, validate=validate.Length(min=1)
    )
    weight = fields.Integer(validate=validate.Range(min=0, max=1000))
    base = fields.Integer(validate=validate.Range(min=0, max=100000))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # RunTask takes the strategy items in their wire spelling.
        wire: dict[str, Any] = self.dump(data)
        return wire


_ENV = fields.Dict(
    keys=fields.String(validate=validate.Length(min=1)), values=fields.String(), load_default=dict
)


class EcsTargetSchema(Schema):
    class Meta:
        unknown = RAISE

    task_definition = fields.String(
        data_key="taskDefinition", required=True, validate=validate.Length(min=1)
    )
    cluster = fields.String(required=True, validate=validate.Length(min=1))
    subnets = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    security_groups = fields.List(
        fields.String(validate=validate.Length(min=1)), data_key="securityGroups", load_default=list
    )
    assign_public_ip = fields.Boolean(data_key="assignPublicIp", load_default=False)
    launch_type = fields.String(
        data_key="launchType", validate=validate.OneOf(["FARGATE"]), allow_none=True
    )
    capacity_provider_strategy = fields.List(
        fields.Nested(StrategyItemSchema),
        data_key="capacityProviderStrategy",
        validate=validate.Length(min=1, max=6),
    )
    container_name = fields.String(
        data_key="containerName", load_default="worker", validate=validate.Length(min=1)
    )
    environment = _ENV

    @validates_schema
    def _launch(self, data: dict[str, Any], **_: Any) -> None:
        strategy = data.get("capacity_provider_strategy") or []
        if data.get("launch_type") and strategy:
            raise ValidationError(
                "Give launchType or capacityProviderStrategy, not both.", "launchType"
            )
        providers = {item.get("capacityProvider") for item in strategy}
        fargate = not strategy or bool(providers & {"FARGATE", "FARGATE_SPOT"})
        if fargate and not data.get("subnets"):
            raise ValidationError(
                "Fargate tasks need at least one subnet (awsvpc networking).", "subnets"
            )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> EcsTarget:
        return _ecs_target(data)


def _ecs_target(data: dict[str, Any]) -> EcsTarget:
    strategy = tuple(data.get("capacity_provider_strategy") or ())
    return EcsTarget(
        task_definition=data["task_definition"],
        cluster=data["cluster"],
        subnets=tuple(data["subnets"]),
        security_groups=tuple(data["security_groups"]),
        assign_public_ip=data["assign_public_ip"],
        launch_type=None if strategy else data.get("launch_type") or "FARGATE",
        capacity_provider_strategy=strategy,
        container_name=data["container_name"],
        environment=dict(data["environment"]),
    )


class RegisteredEcsSchema(EcsTargetSchema):
    """``registered.ecs``: the target of every registered type that has a run spec.

    ``baseTaskDefinition`` is the worker task definition each type's own is copied
    from; ``SHOAL_ECS_BASE_TASK_DEFINITION`` gives it instead (the settings check that
    one of the two does).
    """

    task_definition = fields.String(
        data_key="baseTaskDefinition", load_default="", validate=validate.Length(min=1)
    )
    family_prefix = fields.String(
        data_key="familyPrefix",
        load_default="shoal-type-",
        # ECS family names: letters, digits, - and _; the type's name (≤ 64) follows.
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,128}$"),
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> RegisteredEcs:
        return RegisteredEcs(target=_ecs_target(data), family_prefix=data["family_prefix"])


class RegisteredSchema(Schema):
    class Meta:
        unknown = RAISE

    ecs = fields.Nested(RegisteredEcsSchema)


class LocalTargetSchema(Schema):
    class Meta:
        unknown = RAISE

    command = fields.List(fields.String(), validate=validate.Length(min=1), allow_none=True)
    environment = _ENV

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> LocalTarget:
        command = data.get("command")
        return LocalTarget(
            command=tuple(command) if command else None, environment=dict(data["environment"])
        )


class JobTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    policy = fields.Nested(PolicySchema, load_default=ScalingPolicy)
    ecs = fields.Nested(EcsTargetSchema)
    local = fields.Nested(LocalTargetSchema)


class ConfigSchema(Schema):
    """The whole document; ``context_backend`` says which target each type must have."""

    class Meta:
        unknown = RAISE

    job_types = fields.Dict(
        data_key="jobTypes",
        keys=fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9_]{0,63}$")),
        values=fields.Nested(JobTypeSchema),
        load_default=dict,
    )
    registered = fields.Nested(RegisteredSchema)

    def __init__(self, *, context_backend: str) -> None:
        super().__init__()
        self.backend = context_backend

    @validates_schema
    def _targets(self, data: dict[str, Any], **_: Any) -> None:
        if not data["job_types"] and "ecs" not in data.get("registered", {}):
            raise ValidationError(
                "Give at least one job type, or registered.ecs for registered types.", "jobTypes"
            )
        for name, entry in data["job_types"].items():
            if self.backend == "ecs" and "ecs" not in entry:
                raise ValidationError(
                    {name: {"ecs": ["Required for the ecs backend."]}}, "jobTypes"
                )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ManagerDocument:
        job_types = {
            name: JobTypeConfig(
                name=name,
                policy=entry["policy"],
                ecs=entry.get("ecs"),
                local=entry.get("local") or LocalTarget(),
            )
            for name, entry in data["job_types"].items()
        }
        return ManagerDocument(job_types, data.get("registered", {}).get("ecs"))
