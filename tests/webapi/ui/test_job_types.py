"""The job types pages: every type listed, one type's schemas, example, run spec and
revisions; admins register, change and retire with the document's text; analysts read."""

from __future__ import annotations

import copy
import html
import json
import re

import yaml
from flask.testing import FlaskClient

from tests.webapi.conftest import MakeUser
from tests.webapi.jobtypes.conftest import MODEL
from tests.webapi.ui.conftest import login
from webapi.ui.job_types import MAX_DOCUMENT_CHARS

NEW = "/admin/job-types/new"


def _text(page: str) -> str:
    return html.unescape(page)


def _textarea(page: str) -> str:
    found = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no document textarea"
    return html.unescape(found.group(1))


def _shown(page: str) -> dict[str, object]:
    """The JSON blocks of a type's page by their heading."""
    found = re.findall(r"<h2>([^<]+)</h2>\s*<pre>(.*?)</pre>", page, re.S)
    return {title: json.loads(html.unescape(text)) for title, text in found}


def _types(client: FlaskClient) -> list[str]:
    return re.findall(r'<tr id="type-([A-Z0-9_]+)"', client.get("/job-types").text)


def test_an_admin_registers_changes_and_retires_a_type(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    assert 'name="document"' in client.get(NEW).text
    model = {
        **copy.deepcopy(MODEL),
        "maxPlatformRetries": 4,
        "run": {"command": ["model", "--fit"]},
    }
    created = client.post(NEW, data={"csrf_token": csrf, "document": yaml.safe_dump(model)})
    assert created.status_code == 303, created.text
    assert created.headers["Location"] == "/job-types/MY_MODEL?notice=created"
    page = client.get(created.headers["Location"])
    text = _text(page.text)
    assert "Registered as revision 1." in text
    assert "<dt>maxPlatformRetries</dt><dd>4</dd>" in page.text
    shown = _shown(page.text)
    assert shown["Input schema"] == model["inputSchema"]
    assert shown["Example input"] == model["exampleInput"]
    assert shown["Result schema"] == model["resultSchema"]
    assert shown["How it runs"]["command"] == ["model", "--fit"]  # type: ignore[index]
    assert 'id="revision-1"' in page.text
    assert _types(client) == ["MY_MODEL", "POLYGON_STATS", "TEST"]

    # The edit form holds the current document: sent back as it is, it changes nothing.
    current = _textarea(client.get("/admin/job-types/MY_MODEL/edit").text)
    assert yaml.safe_load(current)["inputSchema"] == model["inputSchema"]
    edit = "/admin/job-types/MY_MODEL/edit"
    same = client.post(edit, data={"csrf_token": csrf, "document": current})
    assert same.headers["Location"] == "/job-types/MY_MODEL?notice=unchanged"
    changed_doc = current.replace(MODEL["description"], "Fits it better.")
    changed = client.post(edit, data={"csrf_token": csrf, "document": changed_doc})
    assert changed.headers["Location"] == "/job-types/MY_MODEL?notice=changed"
    page = client.get(changed.headers["Location"])
    assert "Saved as revision 2." in page.text and "Fits it better." in page.text
    assert 'id="revision-1"' in page.text and 'id="revision-2"' in page.text

    retired = client.post("/admin/job-types/MY_MODEL/retire", data={"csrf_token": csrf})
    assert retired.headers["Location"] == "/job-types/MY_MODEL?notice=retired"
    assert "(retired)" in client.get("/job-types").text
    assert 'value="MY_MODEL"' not in client.get("/jobs/new").text
    no_csrf = client.post(edit, data={"document": current})
    assert no_csrf.status_code == 403


def test_a_refused_document_is_shown_with_its_fields_and_changes_nothing(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    bad = {
        **MODEL,
        "maxAttempts": 0,
        "run": {"command": ["m"], "environment": {"DB_PASSWORD": "hunter2"}},
    }
    refused = client.post(NEW, data={"csrf_token": csrf, "document": yaml.safe_dump(bad)})
    assert refused.status_code == 400
    text = _text(refused.text)
    assert "maxAttempts: Must be greater than or equal to 1" in text
    assert "run.environment.DB_PASSWORD: Looks like a secret" in text
    assert _textarea(refused.text) == yaml.safe_dump(bad)  # kept, to correct
    for document, reason in (
        ("name: [X", "The document is not valid YAML: "),
        ("{name: [X}", "The document is not valid YAML: "),  # not JSON either
        ("- just\n- a list", "The document needs a name."),
        ("", "Paste the type's document"),
        ("x" * (MAX_DOCUMENT_CHARS + 1), f"The document is over {MAX_DOCUMENT_CHARS} characters."),
    ):
        answer = client.post(NEW, data={"csrf_token": csrf, "document": document})
        assert (answer.status_code, reason in _text(answer.text)) == (400, True), document[:20]
    builtin = client.get("/admin/job-types/TEST/edit")
    assert builtin.status_code == 409 and "built-in" in builtin.text
    taken = client.post(
        NEW, data={"csrf_token": csrf, "document": yaml.safe_dump({**MODEL, "name": "TEST"})}
    )
    assert taken.status_code == 409
    assert _types(client) == ["POLYGON_STATS", "TEST"]


def test_analysts_read_every_type_and_change_none(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    registered = client.post(NEW, data={"csrf_token": csrf, "document": json.dumps(MODEL)})
    assert registered.status_code == 303
    client.post("/logout", data={"csrf_token": csrf})
    make_user("ana@example.org")
    csrf = login(client, "ana@example.org")
    listed = client.get("/job-types").text
    assert "Fits the model to one region." in listed and "Register a job type" not in listed
    page = client.get("/job-types/MY_MODEL").text
    assert _shown(page)["Example input"] == MODEL["exampleInput"]
    assert "/retire" not in page and "/edit" not in page
    builtin = client.get("/job-types/POLYGON_STATS").text
    assert _shown(builtin)["Input schema"]["required"] == ["polygon"]  # type: ignore[index]
    assert "Revisions" not in builtin
    assert client.get(NEW).status_code == 403
    assert client.get("/admin/job-types/MY_MODEL/edit").status_code == 403
    retire = client.post("/admin/job-types/MY_MODEL/retire", data={"csrf_token": csrf})
    assert retire.status_code == 403
    assert client.get("/job-types/NOPE").status_code == 404
    assert _types(client) == ["MY_MODEL", "POLYGON_STATS", "TEST"]


def test_a_registered_types_form_is_filled_from_its_example_and_submits_nested_input(
    client: FlaskClient, make_user: MakeUser
) -> None:
    model = copy.deepcopy(MODEL)
    model["inputSchema"]["properties"]["grid"] = {
        "type": "object",
        "properties": {
            "cells": {"type": "integer"},
            "years": {"type": "array", "items": {"enum": [2020, 2030]}},
        },
    }
    model["exampleInput"] = {"region": "cairns", "params": [{"lower": 0.5}]}
    make_user("root@example.org", ("ADMIN",))
    csrf = login(client, "root@example.org")
    assert (
        client.post(NEW, data={"csrf_token": csrf, "document": json.dumps(model)}).status_code
        == 303
    )
    page = client.get("/jobs/new?type=MY_MODEL").text
    params = re.search(r'<textarea id="field-params"[^>]*>(.*?)</textarea>', page, re.S)
    assert params and json.loads(html.unescape(params.group(1))) == [{"lower": 0.5}]
    assert 'name="input.grid.cells"' in page
    data = {
        "csrf_token": csrf,
        "type": "MY_MODEL",
        "input.region": "cairns",
        "input.grid.cells": "x",
        "input.grid.years": "[2020]",
        "input.params": "[]",
    }
    refused = client.post("/jobs/new", data=data)
    assert refused.status_code == 400
    assert re.search(r'id="field-grid.cells-error">Must be a whole number.<', refused.text)
    submitted = client.post("/jobs/new", data={**data, "input.grid.cells": "40"})
    assert submitted.status_code == 303, submitted.text
    job = _text(client.get(submitted.headers["Location"]).text)
    shown = re.search(r'aria-label="Input as JSON">(.*?)</pre>', job, re.S)
    assert shown and json.loads(shown.group(1)) == {
        "region": "cairns",
        "grid": {"cells": 40, "years": [2020]},
        "params": [],
    }
