"""A job type's input schema as HTML form fields, and the filled form back as a payload.

Works for any marshmallow schema, so custom job types registered by entry point
get a form too: numbers, checkboxes, choices and text map to inputs; a GeoJSON
polygon gets a textarea, a file picker and a preview; anything else is JSON. A
registered type's JSON Schema maps the same way, property by property: an object's
properties become fields of their own (``params.lower``), an array of scalars a
textarea of one value per line, and anything else a JSON textarea prefilled with the
type's example input (the whole input is one, when the schema has no properties).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import FileStorage

from shared.geojson import GeoJSONPolygon
from shared.jobtypes.json_schema import JsonSchema
from shared.jobtypes.registry import PayloadSchema

PREFIX = "input."
WHOLE = "$"  # the field that holds a whole input (a schema with no properties)
# Nested objects become fields this deep; deeper ones are a JSON textarea.
MAX_NESTING = 4
_SCALARS = ("string", "number", "integer", "boolean")


@dataclass(frozen=True)
class FormField:
    name: str  # the payload key (its path, joined by dots)
    kind: str  # integer | number | boolean | choice | text | polygon | json | list
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    value: str = ""
    errors: tuple[str, ...] = ()
    path: tuple[str, ...] = ()  # where the value goes in the payload; () for WHOLE
    choice_values: tuple[Any, ...] = ()  # what each choice stands for, when not its text
    item_kind: str = ""  # a list's items: integer | number | boolean | text

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def input_id(self) -> str:
        return "field-" + self.name


@dataclass
class Parsed:
    payload: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


def form_fields(
    schema: PayloadSchema,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, list[str]] | None = None,
    example: Mapping[str, Any] | None = None,
) -> list[FormField]:
    """One field per schema field, with the values and errors of a previous try (or, for
    a first one, JSON fields prefilled from ``example``)."""
    if isinstance(schema, JsonSchema):
        prefill = example if values is None else None
        return _JsonSchemaForm(values or {}, errors or {}, prefill).fields(schema.schema)
    values, errors = values or {}, errors or {}
    found = []
    for name, declared in schema().fields.items():
        key = declared.data_key or name
        found.append(
            FormField(
                name=key,
                kind=_kind(declared),
                required=declared.required,
                description=str(declared.metadata.get("description", "")),
                choices=_choices(declared),
                value=values.get(key, ""),
                errors=tuple(errors.get(key, ())),
            )
        )
    return found


class _JsonSchemaForm:
    """The fields of a JSON Schema, walked once (bounded: the schema is at most 64 KiB)."""

    def __init__(
        self,
        values: Mapping[str, str],
        errors: Mapping[str, list[str]],
        example: Mapping[str, Any] | None,
    ) -> None:
        self.values, self.errors, self.example = values, errors, example

    def fields(self, schema: Mapping[str, Any]) -> list[FormField]:
        if _properties(schema) is None:
            text = _json_text(self.example)
            return [self._field(WHOLE, (), "json", True, "The whole input, as JSON.", text)]
        return list(self._object(schema, (), True))

    def _object(
        self, schema: Mapping[str, Any], path: tuple[str, ...], required: bool
    ) -> Iterator[FormField]:
        required_keys = schema.get("required", [])
        for key, given in (_properties(schema) or {}).items():
            declared = given if isinstance(given, Mapping) else {}
            inner = (*path, key)
            needed = required and isinstance(required_keys, list) and key in required_keys
            if _properties(declared) is not None and len(inner) < MAX_NESTING:
                yield from self._object(declared, inner, needed)
            else:
                yield self._scalar(declared, inner, needed)

    def _scalar(
        self, declared: Mapping[str, Any], path: tuple[str, ...], required: bool
    ) -> FormField:
        name = ".".join(path)
        description = str(declared.get("description", ""))
        enum = _scalar_enum(declared)
        if enum:
            labels = tuple(c if isinstance(c, str) else json.dumps(c) for c in enum)
            found = self._field(name, path, "choice", required, description)
            return replace(found, choices=labels, choice_values=enum)
        kind = _JSON_KINDS.get(str(declared.get("type")))
        if kind:
            return self._field(name, path, kind, required, description)
        items = declared.get("items")
        item_kind = _JSON_KINDS.get(str(items.get("type"))) if isinstance(items, Mapping) else None
        if declared.get("type") == "array" and item_kind:
            described = f"{description} (one value per line)".strip()
            return replace(
                self._field(name, path, "list", required, described), item_kind=item_kind
            )
        text = _json_text(_at(self.example, path))
        return self._field(name, path, "json", required, description, text)

    def _field(
        self,
        name: str,
        path: tuple[str, ...],
        kind: str,
        required: bool,
        description: str,
        prefill: str = "",
    ) -> FormField:
        return FormField(
            name=name,
            kind=kind,
            required=required,
            description=description,
            value=self.values.get(name, prefill),
            errors=tuple(self.errors.get(name, ())),
            path=path,
        )


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An object schema's properties, when it has some and is nothing but an object."""
    properties = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(properties, Mapping):
        return None
    return properties or None


def _scalar_enum(declared: Mapping[str, Any]) -> tuple[Any, ...]:
    enum = declared.get("enum")
    if not isinstance(enum, list) or not enum:
        return ()
    scalar = all(isinstance(c, str | int | float | bool) for c in enum)
    return tuple(enum) if scalar else ()


def _at(example: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(example, Mapping):
            return None
        example = example.get(key)
    return example


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2)


_JSON_KINDS = {"integer": "integer", "number": "number", "boolean": "boolean", "string": "text"}


def _kind(declared: ma.fields.Field[Any]) -> str:
    if isinstance(declared, GeoJSONPolygon):
        return "polygon"
    if isinstance(declared, ma.fields.Boolean):
        return "boolean"
    if isinstance(declared, ma.fields.Integer):
        return "integer"
    if isinstance(declared, ma.fields.Number):
        return "number"
    if isinstance(declared, ma.fields.String):
        return "choice" if _choices(declared) else "text"
    return "json"


def _choices(declared: ma.fields.Field[Any]) -> tuple[str, ...]:
    validators = getattr(declared, "validators", [])
    for validator in validators:
        if isinstance(validator, ma.validate.OneOf):
            return tuple(str(choice) for choice in validator.choices)
    return ()


def parse_form(
    fields: list[FormField], form: Mapping[str, str], files: Mapping[str, FileStorage]
) -> tuple[Parsed, dict[str, str]]:
    """The payload the form describes, per-field errors, and the raw values to show again."""
    parsed, values = Parsed(), {}
    for spec in fields:
        raw = _raw_value(spec, form, files)
        values[spec.name] = raw
        if spec.kind == "boolean":
            if raw:
                _put(parsed.payload, spec, True)
            continue
        if not raw.strip():
            continue
        try:
            _put(parsed.payload, spec, _field_value(spec, raw.strip()))
        except ValueError as error:
            parsed.errors[spec.name] = [str(error)]
    return parsed, values


def _put(payload: dict[str, Any], spec: FormField, value: Any) -> None:
    """``value`` at the field's place in the payload (the whole payload for WHOLE)."""
    if not spec.path and spec.name == WHOLE:
        if not isinstance(value, dict):
            raise ValueError("Must be a JSON object.")
        payload.update(value)
        return
    *outer, last = spec.path or (spec.name,)
    for key in outer:
        payload = payload.setdefault(key, {})
    payload[last] = value


def _field_value(spec: FormField, raw: str) -> Any:
    if spec.choice_values:
        if raw not in spec.choices:
            raise ValueError(f"Must be one of: {', '.join(spec.choices)}.")
        return spec.choice_values[spec.choices.index(raw)]
    if spec.kind == "list":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return [_item(spec.item_kind, line, n) for n, line in enumerate(lines, 1)]
    return _convert(spec.kind, raw)


def _item(kind: str, raw: str, line: int) -> Any:
    try:
        if kind == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError("Must be true or false.")
            return raw.lower() == "true"
        return _convert(kind, raw)
    except ValueError as error:
        raise ValueError(f"Line {line}: {error}") from None


def _raw_value(spec: FormField, form: Mapping[str, str], files: Mapping[str, FileStorage]) -> str:
    upload = files.get(spec.input_name + ".file")
    if upload is not None and upload.filename:
        text: str = upload.read().decode("utf-8", errors="replace")
        return text
    return str(form.get(spec.input_name, ""))


def _convert(kind: str, raw: str) -> Any:
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("Must be a whole number.") from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("Must be a number.") from None
    if kind in ("polygon", "json"):
        return load_json(raw)
    return raw


def load_json(raw: str) -> Any:
    """A field's JSON text as a value; ``ValueError`` saying why it is not one."""
    try:
        return json.loads(raw)
    except RecursionError:
        # The parser recurses once per level: text nested this deep is not an input.
        raise ValueError("Not valid JSON: it is nested too deeply.") from None
    except ValueError as error:
        raise ValueError(f"Not valid JSON: {error}.") from None


def field_errors(
    errors: Mapping[str, list[str]], names: Iterable[str] = ()
) -> tuple[dict[str, list[str]], list[str]]:
    """The queue's ``inputPayload.<path>`` errors by field (the longest of ``names`` the
    path is in, else its first key); the rest as general messages."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    longest_first = sorted(names, key=len, reverse=True)
    for key, reasons in errors.items():
        if key.startswith("inputPayload."):
            path = key.removeprefix("inputPayload.")
            name = next(
                (n for n in longest_first if path == n or path.startswith(n + ".")),
                path.split(".")[0],
            )
            by_field.setdefault(name, []).extend(reasons)
        else:
            general.extend(reasons)
    return by_field, general


def payload_values(fields: list[FormField], payload: Mapping[str, Any]) -> dict[str, str]:
    """The form values that show ``payload`` (a job's input, to edit and run again)."""
    values = {}
    for spec in fields:
        value = _at(payload, spec.path or (() if spec.name == WHOLE else (spec.name,)))
        if value is None:
            continue
        if spec.kind == "boolean":
            values[spec.name] = "on" if value else ""
        elif spec.kind == "list" and isinstance(value, list):
            values[spec.name] = "\n".join(v if isinstance(v, str) else json.dumps(v) for v in value)
        elif spec.kind in ("json", "polygon") or not isinstance(value, str | int | float):
            values[spec.name] = _json_text(value)
        else:
            values[spec.name] = value if isinstance(value, str) else json.dumps(value)
    return values
