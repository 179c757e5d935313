"""Forms generated from any job type's input schema, and read back into a payload."""

from __future__ import annotations

import json
from io import BytesIO

import marshmallow as ma
from werkzeug.datastructures import FileStorage

from shared.geojson import GeoJSONPolygon
from shared.jobtypes.json_schema import JsonSchema
from webapi.ui.forms import field_errors, form_fields, parse_form


class CustomInput(ma.Schema):
    """A deployment's own type: every kind of field a form has to offer."""

    count = ma.fields.Integer(required=True, metadata={"description": "How many"})
    ratio = ma.fields.Float()
    verbose = ma.fields.Boolean()
    mode = ma.fields.String(validate=ma.validate.OneOf(["fast", "exact"]))
    label = ma.fields.String(data_key="labelText")
    options = ma.fields.Dict()
    area = GeoJSONPolygon()


def test_each_field_gets_the_input_its_type_needs() -> None:
    kinds = {f.name: (f.kind, f.required) for f in form_fields(CustomInput)}
    assert kinds == {
        "count": ("integer", True),
        "ratio": ("number", False),
        "verbose": ("boolean", False),
        "mode": ("choice", False),
        "labelText": ("text", False),
        "options": ("json", False),
        "area": ("polygon", False),
    }
    [count] = [f for f in form_fields(CustomInput) if f.name == "count"]
    assert count.description == "How many"
    [mode] = [f for f in form_fields(CustomInput) if f.name == "mode"]
    assert mode.choices == ("fast", "exact")


def test_the_filled_form_becomes_the_payload() -> None:
    fields = form_fields(CustomInput)
    form = {
        "input.count": " 3 ",
        "input.ratio": "0.5",
        "input.verbose": "on",
        "input.mode": "exact",
        "input.labelText": "",
        "input.options": '{"a": [1, 2]}',
    }
    upload = FileStorage(BytesIO(b'{"type": "Polygon"}'), filename="area.geojson")
    parsed, values = parse_form(fields, form, {"input.area.file": upload})
    assert parsed.errors == {}
    assert parsed.payload == {
        "count": 3,
        "ratio": 0.5,
        "verbose": True,
        "mode": "exact",
        "options": {"a": [1, 2]},
        "area": {"type": "Polygon"},
    }
    assert values["area"] == '{"type": "Polygon"}'  # shown again if the submit fails


def test_unreadable_values_are_errors_at_their_field() -> None:
    form = {"input.count": "three", "input.ratio": "x", "input.options": "{"}
    parsed, _ = parse_form(form_fields(CustomInput), form, {})
    assert set(parsed.errors) == {"count", "ratio", "options"}
    assert parsed.errors["count"] == ["Must be a whole number."]


def test_the_queues_errors_go_to_their_fields() -> None:
    by_field, general = field_errors(
        {
            "inputPayload.count": ["Too big."],
            "inputPayload.area.coordinates": ["Bad."],
            "type": ["?"],
        }
    )
    assert by_field == {"count": ["Too big."], "area": ["Bad."]}
    assert general == ["?"]


RICH = JsonSchema(
    {
        "type": "object",
        "required": ["region", "options"],
        "properties": {
            "region": {"type": "string", "description": "Where"},
            "options": {
                "type": "object",
                "required": ["depth"],
                "properties": {
                    "depth": {"type": "integer"},
                    "fast": {"type": "boolean"},
                    "grid": {"type": "object", "properties": {"size": {"type": "number"}}},
                },
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "levels": {"type": "array", "items": {"type": "number"}},
            "year": {"enum": [2020, 2030]},
            "params": {"type": "array", "items": {"type": "object"}},
        },
    }
)
EXAMPLE = {"region": "cairns", "options": {"depth": 2}, "params": [{"lower": 1}]}


def test_a_json_schemas_objects_lists_and_enums_become_fields() -> None:
    fields = form_fields(RICH, example=EXAMPLE)
    kinds = {f.name: (f.kind, f.required) for f in fields}
    assert kinds == {
        "region": ("text", True),
        "options.depth": ("integer", True),
        "options.fast": ("boolean", False),
        "options.grid.size": ("number", False),
        "tags": ("list", False),
        "levels": ("list", False),
        "year": ("choice", False),
        "params": ("json", False),
    }
    by_name = {f.name: f for f in fields}
    assert by_name["year"].choices == ("2020", "2030")
    # Only what has no field of its own is prefilled, from the example input.
    assert json.loads(by_name["params"].value) == [{"lower": 1}]
    assert by_name["region"].value == ""
    form = {
        "input.region": "cairns",
        "input.options.depth": "3",
        "input.options.fast": "on",
        "input.tags": "reef\n\n lagoon \n",
        "input.levels": "0.5\n2",
        "input.year": "2030",
        "input.params": by_name["params"].value,
    }
    parsed, _ = parse_form(fields, form, {})
    assert parsed.errors == {}
    assert parsed.payload == {
        "region": "cairns",
        "options": {"depth": 3, "fast": True},
        "tags": ["reef", "lagoon"],
        "levels": [0.5, 2.0],
        "year": 2030,
        "params": [{"lower": 1}],
    }
    again = form_fields(RICH, {"params": ""}, {}, example=EXAMPLE)
    assert [f.value for f in again if f.name == "params"] == [""]  # a retry keeps what was sent
    bad, _ = parse_form(fields, {"input.levels": "1\nmany", "input.year": "1999"}, {})
    assert bad.errors == {
        "levels": ["Line 2: Must be a number."],
        "year": ["Must be one of: 2020, 2030."],
    }


def test_a_schema_without_properties_is_one_json_field_holding_the_example() -> None:
    [whole] = form_fields(JsonSchema({"type": "object"}), example={"any": [1]})
    assert (whole.kind, json.loads(whole.value)) == ("json", {"any": [1]})
    parsed, _ = parse_form([whole], {whole.input_name: '{"any": [2]}'}, {})
    assert parsed.payload == {"any": [2]}
    refused, _ = parse_form([whole], {whole.input_name: "[2]"}, {})
    assert refused.errors == {whole.name: ["Must be a JSON object."]}


def test_nested_errors_go_to_the_nested_field() -> None:
    names = [f.name for f in form_fields(RICH)]
    by_field, _ = field_errors(
        {"inputPayload.options.depth": ["Too deep."], "inputPayload.params.0.lower": ["No."]},
        names,
    )
    assert by_field == {"options.depth": ["Too deep."], "params": ["No."]}
