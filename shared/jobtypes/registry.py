"""One spec per job type; the queue reads lease length and attempts from here.

Adding a type touches nothing in the queue: a deployment registers its own specs
through the ``shoal.job_types`` entry-point group (each entry a callable that
returns an iterable of :class:`JobTypeSpec`), which :mod:`shared.jobtypes.loading`
reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from marshmallow import Schema, ValidationError

from shared.errors import InvalidInput
from shared.jobtypes.json_schema import JsonSchema

# Whose identical submissions a type's result cache answers: anyone's, or the same user's.
CACHE_SCOPES = ("global", "user")
# The most attempts per job a type may let the platform take uncounted.
MAX_PLATFORM_RETRIES = 100


# A payload's schema: a marshmallow schema (built-in and entry-point types), or JSON
# Schema (registered types).
PayloadSchema = type[Schema] | JsonSchema


@dataclass(frozen=True)
class JobTypeSpec:
    name: str
    input_schema: PayloadSchema
    result_schema: PayloadSchema
    lease_seconds: int = 60
    max_attempts: int = 3
    # Attempts lost to the platform (Spot, a lost host, a kill from outside) do not
    # count against max_attempts, up to this many per job (0..MAX_PLATFORM_RETRIES);
    # past it they do.
    max_platform_retries: int = 10
    cache_results: bool = True
    # "global": an identical submission by anyone reuses the job; "user": only the same user's.
    cache_scope: str = "global"
    description: str = ""
    # The run-time limit of one attempt, however often it heartbeats.
    timeout_seconds: int = 3600
    # The lease of an assignment taken through ReefGuide's ``assign`` route: those
    # workers never heartbeat, so they get ReefGuide's own hour.
    assign_lease_seconds: int = 3600
    # The bytes of log messages kept per attempt; past it the oldest lines go (the
    # tail is kept). None: the web API's SHOAL_JOB_LOG_LIMIT_BYTES.
    log_limit_bytes: int | None = None
    # An input that the type accepts, shown to users (GET /api/job-types, the dashboard).
    example_input: Mapping[str, Any] | None = None
    # A registered type's revision this spec is (None: a built-in or entry-point type).
    revision: int | None = None
    # The task size an attempt is charged for (docs/accounting.md); a registered type's
    # jobs take their revision's cpu and memory, when it gives them.
    vcpu: float = 1.0
    memory_gb: float = 2.0

    def validate_input(self, payload: Any) -> dict[str, Any]:
        return self.input_loader()(payload)

    def input_loader(self) -> Callable[[Any], dict[str, Any]]:
        """``validate_input`` with one schema for many payloads (a batch): no set-up each."""
        return _loader(self.input_schema, "inputPayload")

    def validate_result(self, payload: Any) -> dict[str, Any]:
        return _loader(self.result_schema, "resultPayload")(payload)


def _loader(schema: PayloadSchema, field: str) -> Callable[[Any], dict[str, Any]]:
    if isinstance(schema, JsonSchema):  # compiled once, with its type's revision
        return lambda payload: schema.load(payload, field)
    instance = schema()
    return lambda payload: _load(instance, payload, field)


def _load(schema: Schema, payload: Any, field: str) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", errors={field: ["Not an object."]})
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError as error:
        messages = error.normalized_messages()  # type: ignore[no-untyped-call]
        detail = {f"{field}.{key}": _as_list(value) for key, value in messages.items()}
        raise InvalidInput(f"{field} does not match its schema", errors=detail) from None
    return loaded


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


class JobTypes(Protocol):
    """What the queue asks of the job types: a fixed registry, or the web API's catalogue
    (which adds the types registered through the API, and changes while it runs)."""

    def get(self, name: str) -> JobTypeSpec:
        """A type new jobs may be submitted to; else ``InvalidInput`` (unknown, retired)."""

    def known(self, name: str) -> JobTypeSpec:
        """A type jobs may exist of (a retired one too); else ``InvalidInput``."""

    def at(self, name: str, revision: int | None) -> JobTypeSpec:
        """The type as it was at ``revision`` (None: not a registered type)."""

    def names(self) -> list[str]:
        """The types new jobs may be submitted to, sorted."""

    def __contains__(self, name: object) -> bool: ...

    def __iter__(self) -> Iterator[JobTypeSpec]: ...


class JobTypeRegistry:
    def __init__(self, specs: Iterable[JobTypeSpec] = ()) -> None:
        self._specs: dict[str, JobTypeSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: JobTypeSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"job type {spec.name} is registered twice")
        if spec.cache_scope not in CACHE_SCOPES:
            raise ValueError(f"{spec.name}: cache_scope must be one of {CACHE_SCOPES}")
        self._specs[spec.name] = spec

    def get(self, name: str) -> JobTypeSpec:
        """The spec of a job type; an unknown name is the caller's mistake (400)."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs))
            raise InvalidInput(
                f"Unknown job type {name!r}; known types: {known}",
                errors={"type": [f"Must be one of: {known}."]},
            ) from None

    def known(self, name: str) -> JobTypeSpec:
        return self.get(name)

    def at(self, name: str, revision: int | None) -> JobTypeSpec:
        """Fixed types have no revisions: the spec itself."""
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[JobTypeSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return sorted(self._specs)


# What SHOAL_JOB_OVERRIDES may change per type: wire name → spec field.
OVERRIDABLE = {
    "leaseSeconds": "lease_seconds",
    "maxAttempts": "max_attempts",
    "maxPlatformRetries": "max_platform_retries",
    "cacheResults": "cache_results",
    "cacheScope": "cache_scope",
    "timeoutSeconds": "timeout_seconds",
    "assignLeaseSeconds": "assign_lease_seconds",
    "logLimitBytes": "log_limit_bytes",
}


def _valid_override(key: str, value: Any) -> bool:
    if key == "cacheResults":
        return isinstance(value, bool)
    if key == "cacheScope":
        return value in CACHE_SCOPES
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    if key == "maxPlatformRetries":
        return 0 <= value <= MAX_PLATFORM_RETRIES
    return value >= 1


def with_overrides(
    registry: JobTypeRegistry, overrides: Mapping[str, Mapping[str, Any]]
) -> JobTypeRegistry:
    """A copy of ``registry`` with per-type overrides (keys as in ``OVERRIDABLE``).

    Raises ValueError naming the type or key that is wrong.
    """
    fields = OVERRIDABLE
    specs = {spec.name: spec for spec in registry}
    for name, changes in overrides.items():
        if name not in specs:
            raise ValueError(f"unknown job type {name!r}")
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
        for key, value in changes.items():
            if not _valid_override(key, value):
                raise ValueError(f"{name}.{key} has an invalid value {value!r}")
        specs[name] = replace(specs[name], **{fields[k]: v for k, v in changes.items()})
    return JobTypeRegistry(specs.values())
