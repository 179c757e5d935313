"""JSON Schema (Draft 2020-12) as a job type's input or result schema.

A schema is checked once, when it is given (a registered type's PUT, a type file the
CLI reads): its size, depth and references are bounded before ``check_schema`` sees
it, so no schema can make the check, or any validation after it, unbounded. Only
references inside the schema itself (``#...``) are allowed, and the validator's
registry retrieves nothing: no file, no URL. One compiled validator is kept per
schema and reused for every payload.

Errors speak like the marshmallow schemas' do: ``{"inputPayload.region": ["Missing
data for required field."]}``, one key per JSON path.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
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
        self._validator = Draft202012Validator(self.schema, registry=_NOTHING_ELSE)

    def load(self, payload: Any, field: str) -> dict[str, Any]:
        """``payload`` if it matches, else ``InvalidInput`` with one key per bad path."""
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"{field} must be a JSON object", errors={field: ["Not an object."]})
        found = list(itertools.islice(self._validator.iter_errors(payload), MAX_ERRORS))
        if found:
            raise InvalidInput(f"{field} does not match its schema", errors=_errors(found, field))
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


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, reference)`` of every ``$ref`` and ``$dynamicRef`` in a schema."""
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if key in _REFERENCES and isinstance(child, str):
                    yield f"{at}.{key}", child
                else:
                    stack.append((child, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{at}.{index}") for index, child in enumerate(item))


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
    return any(re.search(pattern, name) for pattern in patterns)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
