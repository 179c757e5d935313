"""Forms generated from any job type's input schema, and read back into a payload."""

from __future__ import annotations

from io import BytesIO

import marshmallow as ma
from werkzeug.datastructures import FileStorage

from shared.geojson import GeoJSONPolygon
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
