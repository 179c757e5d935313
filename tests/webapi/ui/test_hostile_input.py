"""Hostile input to the dashboard's forms: a 400 page naming the problem, never a 500,
and nothing created."""

from __future__ import annotations

import io

import marshmallow as ma
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.webapi.conftest import MakeUser
from tests.webapi.ui.conftest import login, post_login
from webapi.services import Services
from webapi.store.models import Job
from webapi.ui.forms import form_fields, parse_form
from webapi.ui.session import COOKIE

DEPTH = 20_000  # far past the depth Python's JSON parser recurses to, within the body limit
DEEP = {
    "arrays": "[" * DEPTH + "]" * DEPTH,
    "objects": '{"a": ' * DEPTH + "1" + "}" * DEPTH,
    "coordinates": '{"type": "Polygon", "coordinates": ' + "[" * DEPTH + "]" * DEPTH + "}",
}
NESTED = "nested too deeply"


def _jobs(services: Services) -> int:
    with services.transaction() as conn:
        return conn.execute(select(func.count()).select_from(Job)).scalar_one()


@pytest.mark.parametrize("shape", DEEP)
def test_deeply_nested_json_in_a_form_is_a_400_at_its_field(
    client: FlaskClient, make_user: MakeUser, services: Services, shape: str
) -> None:
    make_user("analyst@example.org", ("ANALYST",))
    csrf = login(client, "analyst@example.org")
    text = DEEP[shape]
    pasted = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "POLYGON_STATS", "input.polygon": text},
    )
    uploaded = client.post(
        "/jobs/new",
        data={
            "csrf_token": csrf,
            "type": "POLYGON_STATS",
            "input.polygon.file": (io.BytesIO(text.encode()), "polygon.geojson"),
        },
        content_type="multipart/form-data",
    )
    for answer in (pasted, uploaded):
        assert answer.status_code == 400, answer.status_code
        assert NESTED in answer.text
    # The preview of what is being typed says it is no polygon, as for any other text.
    preview = client.post(
        "/jobs/new/polygon-preview", data={"csrf_token": csrf, "input.polygon": text}
    )
    assert preview.status_code == 200 and "Paste a GeoJSON Polygon" in preview.text
    assert _jobs(services) == 0


def test_a_form_over_the_body_limit_is_a_413_page(
    client: FlaskClient, make_user: MakeUser, services: Services
) -> None:
    make_user("analyst@example.org", ("ANALYST",))
    csrf = login(client, "analyst@example.org")
    data = {"csrf_token": csrf, "type": "POLYGON_STATS", "input.polygon": "x" * 2**21}
    answer = client.post("/jobs/new", data=data)
    assert answer.status_code == 413
    assert "<html" in answer.text and "exceeds the capacity limit" in answer.text
    assert _jobs(services) == 0


class AnyJson(ma.Schema):
    options = ma.fields.Dict()


def test_deeply_nested_json_in_a_custom_types_field_is_an_error_at_it() -> None:
    parsed, _ = parse_form(form_fields(AnyJson), {"input.options": DEEP["objects"]}, {})
    assert parsed.errors == {"options": ["Not valid JSON: it is nested too deeply."]}


def test_a_next_with_control_characters_is_a_400_naming_it(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("analyst@example.org", ("ANALYST",))
    for bad in ("/jobs\r\nSet-Cookie: planted=1", "/jobs\nX", "/jobs\x00"):
        refused = post_login(client, "analyst@example.org", next=bad)
        assert refused.status_code == 400, repr(bad)
        assert "(next) holds control characters" in refused.text
        assert client.get_cookie(COOKIE) is None  # not logged in either
    login(client, "analyst@example.org")
    logged_in = client.get("/login", query_string={"next": "/jobs\r\nSet-Cookie: planted=1"})
    assert logged_in.status_code == 400
    assert "(next) holds control characters" in logged_in.text
    assert client.get("/login", query_string={"next": "/jobs"}).headers["Location"] == "/jobs"
