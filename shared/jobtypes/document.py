"""The type document: a registered job type as data (wire format, and YAML in files).

``RegisteredType.from_wire(doc)`` checks a document whole and raises ``InvalidInput``
with one key per bad field (``run.environment.API_TOKEN``, ``inputSchema.properties``):
the web API answers that as its 400, and the CLI checks a file with it before sending.
The checked document is normalised (every default filled in), so two documents that
mean the same type have the same ``content_hash``.

What a document may not carry, whoever sends it: environment values that look like
secrets (they belong in ``run.secrets``, as ARNs ECS resolves), and environment or
secret names that shoal or AWS set for the worker (``SHOAL_*``, ``AWS_*``). Which
images may run is the web API's setting (``SHOAL_ALLOWED_IMAGES``), checked there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.errors import InvalidInput
from shared.jobtypes.json_schema import JsonSchema, refusal
from shared.jobtypes.registry import CACHE_SCOPES, MAX_PLATFORM_RETRIES, JobTypeSpec

NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Keys an answer adds to the document (a type's, a revision's); a document sent back as
# read is taken, without them.
READ_ONLY = ("revision", "source", "retired", "createdAt", "updatedAt", "createdBy", "contentHash")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_PREFIXES = ("SHOAL_", "AWS_")
# Names that say they hold a secret: such a value goes in run.secrets, never in plain text.
SECRET_LIKE = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIALS|_KEY$", re.IGNORECASE)
# A Secrets Manager secret (with ECS's optional :json-key:version-stage:version-id) or
# an SSM parameter, in any partition.
SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+(:[^:\s]*){0,3}"
    r"|ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+)$"
)
# Fargate's task sizes: cpu units → the memory (MiB) each allows.
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}
_DAY = 86400


def _seconds(default: int, most: int) -> fields.Integer:
    return fields.Integer(
        load_default=default, strict=True, validate=validate.Range(min=1, max=most)
    )


class _StrictBoolean(fields.Boolean):
    """true or false only (marshmallow's own also takes "yes", 1, "on", ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ScalingSchema(_Strict):
    """The manager's policy for the type (manager/policy.py's fields)."""

    min = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=1000))
    max = fields.Integer(load_default=5, strict=True, validate=validate.Range(min=0, max=1000))
    cooldownSeconds = fields.Float(  # noqa: N815 - wire name
        load_default=30.0, validate=validate.Range(min=0, max=_DAY)
    )
    sensitivity = fields.Float(load_default=2.0, validate=validate.Range(min=0, max=1000))
    factor = fields.Float(
        load_default=3.0, validate=validate.Range(min=0, min_inclusive=False, max=1e6)
    )

    @validates_schema
    def _bounds(self, data: dict[str, Any], **_: Any) -> None:
        if data["min"] > data["max"]:
            raise ValidationError("Must not be greater than max.", "min")


class RunSchema(_Strict):
    """How the type runs: an argv list, in an image, with plain environment and secrets."""

    command = fields.List(
        fields.String(validate=validate.Length(min=1, max=4096)),
        required=True,
        validate=validate.Length(min=1, max=256),
    )
    image = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 1024))
    environment = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(max=32 * 1024)),
        load_default=dict,
        validate=validate.Length(max=100),
    )
    secrets = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(max=2048)),
        load_default=dict,
        validate=validate.Length(max=100),
    )
    cpu = fields.Integer(load_default=None, allow_none=True, strict=True)
    memory = fields.Integer(load_default=None, allow_none=True, strict=True)
    stopGraceSeconds = _seconds(10, 120)  # noqa: N815 - wire name (ECS allows 120)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        for name in data.get("environment", {}):
            reason = _env_name_problem(name) or (
                "Looks like a secret: reference it in run.secrets by ARN instead."
                if SECRET_LIKE.search(name)
                else None
            )
            if reason:
                errors.setdefault("environment", {})[name] = [reason]
        for name, arn in data.get("secrets", {}).items():
            reason = _env_name_problem(name)
            if reason is None and not SECRET_ARN.match(arn):
                reason = "Must be the ARN of a Secrets Manager secret or an SSM parameter."
            if reason is None and name in data.get("environment", {}):
                reason = "Is also in run.environment."
            if reason:
                errors.setdefault("secrets", {})[name] = [reason]
        errors.update(_size_problem(data.get("cpu"), data.get("memory")))
        if errors:
            raise ValidationError(errors)


class TypeDocumentSchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(NAME, error="Must match {regex}."))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    inputSchema = fields.Dict(required=True)  # noqa: N815 - checked as JSON Schema
    resultSchema = fields.Dict(load_default=None, allow_none=True)  # noqa: N815
    exampleInput = fields.Dict(load_default=None, allow_none=True)  # noqa: N815
    leaseSeconds = _seconds(60, _DAY)  # noqa: N815
    maxAttempts = fields.Integer(  # noqa: N815
        load_default=3, strict=True, validate=validate.Range(min=1, max=100)
    )
    maxPlatformRetries = fields.Integer(  # noqa: N815
        load_default=10,
        strict=True,
        validate=validate.Range(min=0, max=MAX_PLATFORM_RETRIES),
    )
    timeoutSeconds = _seconds(3600, 30 * _DAY)  # noqa: N815
    assignLeaseSeconds = _seconds(3600, 30 * _DAY)  # noqa: N815
    cacheResults = _StrictBoolean(load_default=True)  # noqa: N815
    cacheScope = fields.String(load_default="global", validate=validate.OneOf(CACHE_SCOPES))  # noqa: N815
    logLimitBytes = fields.Integer(  # noqa: N815
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1024, max=1024**3),
    )
    scaling = fields.Nested(ScalingSchema, load_default=None, allow_none=True)
    run = fields.Nested(RunSchema, load_default=None, allow_none=True)


@dataclass(frozen=True)
class RegisteredType:
    """A checked, normalised type document and the schemas compiled from it."""

    document: dict[str, Any]  # camelCase, every key present (null where absent)
    input_schema: JsonSchema
    result_schema: JsonSchema | None

    @classmethod
    def from_wire(cls, doc: Any, *, name: str | None = None) -> RegisteredType:
        """Check a document (``name``: the one the URL gives); 400 naming every bad field."""
        if not isinstance(doc, Mapping):
            raise InvalidInput(
                "A job type must be a JSON object", errors={"body": ["Not an object."]}
            )
        given = {key: value for key, value in doc.items() if key not in READ_ONLY}
        if name is not None and given.setdefault("name", name) != name:
            raise InvalidInput(
                f"The body names job type {given['name']!r}, the URL {name!r}",
                errors={"name": [f"Must be {name} (as in the URL) or absent."]},
            )
        try:
            document: dict[str, Any] = TypeDocumentSchema().load(given)
        except ValidationError as error:
            raise refusal("Invalid job type", flatten(error.messages)) from None
        input_schema = JsonSchema(document["inputSchema"], "inputSchema")
        result_schema = (
            None
            if document["resultSchema"] is None
            else JsonSchema(document["resultSchema"], "resultSchema")
        )
        if document["exampleInput"] is not None:
            try:
                input_schema.load(document["exampleInput"], "exampleInput")
            except InvalidInput as error:
                raise refusal("exampleInput does not match inputSchema", error.errors) from None
        return cls(document, input_schema, result_schema)

    @property
    def name(self) -> str:
        return str(self.document["name"])

    @property
    def image(self) -> str | None:
        run = self.document["run"]
        return None if run is None else run["image"]

    def content_hash(self) -> str:
        """SHA-256 of the normalised document as canonical JSON: the same type, the same hash."""
        canonical = json.dumps(self.document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def spec(self, revision: int | None = None) -> JobTypeSpec:
        """The type as the queue, the worker and the routes use every type."""
        doc = self.document
        return JobTypeSpec(
            name=self.name,
            input_schema=self.input_schema,
            result_schema=self.result_schema or ANY_OBJECT,
            lease_seconds=doc["leaseSeconds"],
            max_attempts=doc["maxAttempts"],
            max_platform_retries=doc["maxPlatformRetries"],
            cache_results=doc["cacheResults"],
            cache_scope=doc["cacheScope"],
            description=doc["description"],
            timeout_seconds=doc["timeoutSeconds"],
            assign_lease_seconds=doc["assignLeaseSeconds"],
            log_limit_bytes=doc["logLimitBytes"],
            example_input=doc["exampleInput"],
            revision=revision,
            **_task_size(doc.get("run") or {}),
        )


# The result schema of a type that declares none: any JSON object.
ANY_OBJECT = JsonSchema({"type": "object"}, "resultSchema")


def check_image(image: str | None, allowed: tuple[str, ...]) -> None:
    """400 unless ``image`` (if any) starts with one of the ``allowed`` prefixes ("*": any)."""
    if image is None or "*" in allowed or any(image.startswith(p) for p in allowed):
        return
    shown = ", ".join(allowed) if allowed else "none"
    raise InvalidInput(
        f"Image {image!r} is not allowed: SHOAL_ALLOWED_IMAGES allows {shown}",
        errors={"run.image": [f"Must start with one of SHOAL_ALLOWED_IMAGES ({shown})."]},
    )


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"a.b.c": [reasons]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else prefix or str(key)
            for inner, reasons in flatten(value, path).items():
                flat.setdefault(inner, []).extend(reasons)
        return flat
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix: list(messages)}
    if isinstance(messages, list):
        return flatten(dict(enumerate(messages)), prefix)
    return {prefix: [str(messages)]}


def _env_name_problem(name: str) -> str | None:
    if not ENV_NAME.match(name):
        return "Must be a variable name (letters, digits, _; not starting with a digit)."
    if name.upper().startswith(RESERVED_PREFIXES):
        return f"Names starting {' or '.join(RESERVED_PREFIXES)} are set by shoal and AWS."
    return None


def _task_size(run: Mapping[str, Any]) -> dict[str, float]:
    """The spec's vcpu and memory_gb from ``run``'s Fargate units (none: the defaults)."""
    cpu, memory = run.get("cpu"), run.get("memory")
    if cpu is None or memory is None:
        return {}
    return {"vcpu": cpu / 1024, "memory_gb": memory / 1024}


def _size_problem(cpu: int | None, memory: int | None) -> dict[str, list[str]]:
    if cpu is None and memory is None:
        return {}
    if cpu is None or memory is None:
        missing = "cpu" if cpu is None else "memory"
        return {missing: ["Give cpu and memory together (a Fargate task size)."]}
    if cpu not in FARGATE_SIZES:
        return {"cpu": [f"Must be one of {sorted(FARGATE_SIZES)} (Fargate cpu units)."]}
    allowed = FARGATE_SIZES[cpu]
    if memory not in allowed:
        return {
            "memory": [
                f"With cpu {cpu}, must be {allowed.start}-{allowed.stop - 1} MiB"
                f" in steps of {allowed.step}."
            ]
        }
    return {}
