"""A job type's input schema as HTML form fields, and the filled form back as a payload.

Works for any marshmallow schema, so custom job types registered by entry point
get a form too: numbers, checkboxes, choices and text map to inputs; a GeoJSON
polygon gets a textarea, a file picker and a preview; anything else is JSON. A
registered type's JSON Schema maps the same way, property by property.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import FileStorage

from shared.geojson import GeoJSONPolygon
from shared.jobtypes.json_schema import JsonSchema
from shared.jobtypes.registry import PayloadSchema

PREFIX = "input."


@dataclass(frozen=True)
class FormField:
    name: str  # the payload key
    kind: str  # integer | number | boolean | choice | text | polygon | json
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    value: str = ""
    errors: tuple[str, ...] = ()

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
) -> list[FormField]:
    """One field per schema field, with the values and errors of a previous try."""
    values, errors = values or {}, errors or {}
    if isinstance(schema, JsonSchema):
        return _json_schema_fields(schema.schema, values, errors)
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


def _json_schema_fields(
    schema: Mapping[str, Any], values: Mapping[str, str], errors: Mapping[str, list[str]]
) -> list[FormField]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    found = []
    for key, given in properties.items() if isinstance(properties, Mapping) else ():
        declared = given if isinstance(given, Mapping) else {}
        choices = tuple(str(c) for c in declared.get("enum", ()) if isinstance(c, str))
        found.append(
            FormField(
                name=key,
                kind="choice" if choices else _JSON_KINDS.get(str(declared.get("type")), "json"),
                required=key in required,
                description=str(declared.get("description", "")),
                choices=choices,
                value=values.get(key, ""),
                errors=tuple(errors.get(key, ())),
            )
        )
    return found


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
                parsed.payload[spec.name] = True
            continue
        if not raw.strip():
            continue
        try:
            parsed.payload[spec.name] = _convert(spec.kind, raw.strip())
        except ValueError as error:
            parsed.errors[spec.name] = [str(error)]
    return parsed, values


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


def field_errors(errors: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """The queue's ``inputPayload.<field>`` errors by field; the rest as general messages."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for key, reasons in errors.items():
        if key.startswith("inputPayload."):
            name = key.removeprefix("inputPayload.").split(".")[0]
            by_field.setdefault(name, []).extend(reasons)
        else:
            general.extend(reasons)
    return by_field, general
