"""JSON Schema (Draft 2020-12) as a job type's input or result schema.

A schema is checked once, when it is given (a registered type's PUT, a type file the
CLI reads): its size, depth and references are bounded before ``check_schema`` sees
it, so no schema can make the check, or any validation after it, unbounded. Only
references inside the schema itself (``#...``) are allowed, and the validator's
registry retrieves nothing: no file, no URL. One compiled validator is kept per
schema and reused for every payload.

A pattern (``pattern``, ``patternProperties``) is the one thing a bounded schema cannot
bound: a badly written one backtracks for ever on the right input, and validation runs on
the web API's loop. So patterns are matched by the ``regex`` module with a time limit:
all the matches of one payload share ``MATCH_SECONDS``, and a payload that needs more is
refused (400) instead of holding the process. ``unevaluatedProperties`` beside
``patternProperties`` is refused: jsonschema matches those patterns itself, unbounded.

Errors speak like the marshmallow schemas' do: ``{"inputPayload.region": ["Missing
data for required field."]}``, one key per JSON path.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import regex
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from shared.errors import InvalidInput

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
DRAFT = "https://json-schema.org/draft/2020-12/schema"
# A payload's errors named at most (the rest would cost time to find and say nothing new).
MAX_ERRORS = 50
# A reason quotes the offending value: cut, so a huge value is not sent back whole.
MAX_REASON_CHARS = 300
MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
_REFERENCES = ("$ref", "$dynamicRef")
# All the pattern matches of one payload together: a pattern that backtracks on it is
# cut off here (50 ms of the loop at most) and the payload refused.
MATCH_SECONDS = 0.05
_deadline: ContextVar[float | None] = ContextVar("shoal_pattern_deadline", default=None)


class _TooSlow(Exception):
    """The payload's pattern matches ran past ``MATCH_SECONDS``."""


def _search(pattern: str, text: str) -> bool:
    deadline = _deadline.get()
    left = MATCH_SECONDS if deadline is None else deadline - time.monotonic()
    if left <= 0:
        raise _TooSlow
    try:
        return regex.search(pattern, text, timeout=left) is not None
    except TimeoutError:
        raise _TooSlow from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    declared, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = [k for k in instance if k not in declared and not _matches(k, patterns)]
    if validator.is_type(allowed, "object"):
        for name in extras:
            yield from validator.descend(instance[name], allowed, path=name)
    elif not allowed and extras:
        listed = ", ".join(repr(name) for name in sorted(extras, key=str))
        yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


# Draft 2020-12 with every pattern matched under the time limit.
_Validator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


def _retrieve(uri: str) -> Any:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs' generated __init__


# Resolves what the schema holds and nothing else (no remote or file retrieval).
_NOTHING_ELSE: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]


class JsonSchema:
    """A checked schema and its one compiled validator."""

    def __init__(self, schema: Mapping[str, Any], field: str = "schema") -> None:
        """Check ``schema``; ``InvalidInput`` names ``field`` and the problem's path in it."""
        check_schema(schema, field)
        self.schema: dict[str, Any] = dict(schema)
        self._validator = _Validator(self.schema, registry=_NOTHING_ELSE)

    def load(self, payload: Any, field: str) -> dict[str, Any]:
        """``payload`` if it matches, else ``InvalidInput`` with one key per bad path."""
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"{field} must be a JSON object", errors={field: ["Not an object."]})
        token = _deadline.set(time.monotonic() + MATCH_SECONDS)
        try:
            found = list(itertools.islice(self._validator.iter_errors(payload), MAX_ERRORS))
            errors = _errors(found, field) if found else None
        except _TooSlow:
            reason = (
                f"Not checked within {MATCH_SECONDS * 1000:.0f} ms: a pattern of the type's"
                " schema takes too long on this value."
            )
            raise refusal(f"{field} could not be checked", {field: [reason]}) from None
        finally:
            _deadline.reset(token)
        if errors:
            raise InvalidInput(f"{field} does not match its schema", errors=errors)
        return dict(payload)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonSchema) and other.schema == self.schema

    def __hash__(self) -> int:
        return hash(json.dumps(self.schema, sort_keys=True))

    def __repr__(self) -> str:
        return f"JsonSchema({_cut(json.dumps(self.schema))})"


def refusal(title: str, errors: Mapping[str, list[str]]) -> InvalidInput:
    """A 400 whose message names the first bad field: ``title (field: reasons)``."""
    field, reasons = next(iter(errors.items()))
    more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
    return InvalidInput(f"{title} ({field}: {' '.join(reasons)}){more}", errors=errors)


def check_schema(schema: Any, field: str = "schema") -> None:
    """A schema we accept: an object, at most 64 KiB as JSON and 32 levels deep, with
    local references only, valid against Draft 2020-12's metaschema."""
    if not isinstance(schema, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", errors={field: ["Not an object."]})
    size = len(json.dumps(schema, separators=(",", ":")).encode())
    if size > MAX_SCHEMA_BYTES:
        reason = f"Is {size:,} bytes of JSON; at most {MAX_SCHEMA_BYTES:,} are allowed."
        raise refusal(f"{field} is too large", {field: [reason]})
    deepest = _depth(schema)
    if deepest > MAX_SCHEMA_DEPTH:
        reason = f"Nests {deepest} levels deep; at most {MAX_SCHEMA_DEPTH} are allowed."
        raise refusal(f"{field} is nested too deeply", {field: [reason]})
    declared = schema.get("$schema", DRAFT)
    if declared not in (DRAFT, DRAFT + "#"):
        reason = f"Must be {DRAFT} (Draft 2020-12) or absent."
        raise refusal(f"{field} is not Draft 2020-12", {f"{field}.$schema": [reason]})
    for path, reference in _references(schema, field):
        if not reference.startswith("#"):
            reason = "Only references inside the schema (#...) are allowed."
            raise refusal(f"{field} refers outside itself", {path: [reason]})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        path = ".".join([field, *(str(part) for part in error.absolute_path)])
        raise refusal(
            f"{field} is not a valid JSON Schema", {path: [_cut(error.message)]}
        ) from None
    for path, pattern in _patterns(schema, field):
        try:
            regex.compile(pattern)
        except regex.error as error:
            raise refusal(f"{field} has a bad pattern", {path: [_cut(str(error))]}) from None
    if _has_key(schema, "patternProperties") and _has_key(schema, "unevaluatedProperties"):
        reason = "patternProperties with unevaluatedProperties is not supported."
        raise refusal(
            f"{field} mixes patternProperties and unevaluatedProperties", {field: [reason]}
        )
    resolver = _NOTHING_ELSE.resolver_with_root(DRAFT202012.create_resource(dict(schema)))
    for path, reference in _references(schema, field):
        try:  # resolved now, so a broken one is the admin's 400, not a payload's 500
            resolver.lookup(reference)
        except Exception:
            reason = f"{reference!r} names nothing in this schema."
            raise refusal(f"{field} has a broken reference", {path: [reason]}) from None


def _depth(value: Any) -> int:
    """Levels of objects and arrays, without recursion (the size bound keeps it cheap)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _entries(value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """``(path, key, child)`` of every key of every object in a schema, without recursion
    (the size bound keeps it cheap); ``path`` is the object's own."""
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                yield at, key, child
                stack.append((child, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{at}.{index}") for index, child in enumerate(item))


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, reference)`` of every ``$ref`` and ``$dynamicRef`` in a schema."""
    for at, key, child in _entries(value, path):
        if key in _REFERENCES and isinstance(child, str):
            yield f"{at}.{key}", child


def _patterns(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, pattern)`` of every ``pattern`` and ``patternProperties`` key."""
    for at, key, child in _entries(value, path):
        if key == "pattern" and isinstance(child, str):
            yield f"{at}.{key}", child
        elif key == "patternProperties" and isinstance(child, Mapping):
            yield from ((f"{at}.{key}.{name}", name) for name in child)


def _has_key(value: Any, name: str) -> bool:
    return any(key == name for _, key, _ in _entries(value, ""))


def _errors(found: list[ValidationError], field: str) -> dict[str, list[str]]:
    """One key per JSON path (``field.a.0.b``), reasons worded as marshmallow's where the
    two say the same (a missing property, an unknown one)."""
    errors: dict[str, list[str]] = {}
    for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
        base = [field, *(str(part) for part in error.absolute_path)]
        for path, reason in _reasons(error, base):
            reasons = errors.setdefault(path, [])
            if reason not in reasons:
                reasons.append(reason)
    return errors


def _reasons(error: ValidationError, base: list[str]) -> Iterator[tuple[str, str]]:
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        for name in error.validator_value:
            if name not in instance:
                yield ".".join([*base, str(name)]), MISSING
        return
    if error.validator_value is False and isinstance(instance, Mapping):
        extra: list[Any] = []
        if error.validator == "additionalProperties":
            schema = error.schema if isinstance(error.schema, Mapping) else {}
            declared, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
            extra = [k for k in instance if k not in declared and not _matches(k, patterns)]
        elif error.validator == "unevaluatedProperties":  # the message names them
            extra = [k for k in instance if repr(k) in error.message]
        for name in extra:
            yield ".".join([*base, str(name)]), UNKNOWN
        if extra:
            return
    yield ".".join(base), _cut(error.message)


def _matches(name: str, patterns: Mapping[str, Any]) -> bool:
    return any(_search(pattern, name) for pattern in patterns)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
