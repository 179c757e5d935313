"""The dashboard's new-job form for registered types: generated from their JSON Schema,
submitted with their checks; a retired type has no form."""

from __future__ import annotations

from tests.webapi.ui.conftest import login

URL = "/api/job-types/MY_MODEL"


def test_a_registered_type_gets_a_form_and_a_retired_one_none(
    client, make_user, admin_caller, model
) -> None:
    model["inputSchema"]["properties"]["threads"] = {"type": "integer", "description": "CPUs"}
    model["inputSchema"]["properties"]["mode"] = {"enum": ["fast", "exact"]}
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    make_user("analyst@example.org", ("ANALYST",))
    csrf = login(client, "analyst@example.org")
    page = client.get("/jobs/new?type=MY_MODEL")
    assert page.status_code == 200
    for name in ("input.region", "input.threads", "input.mode", "input.params"):
        assert f'name="{name}"' in page.text, name
    assert "<option>exact</option>" in page.text
    refused = client.post(
        "/jobs/new",
        data={"csrf_token": csrf, "type": "MY_MODEL", "input.region": "", "input.threads": "x"},
    )
    assert refused.status_code == 400
    assert "Must be a whole number." in refused.text
    submitted = client.post(
        "/jobs/new",
        data={
            "csrf_token": csrf,
            "type": "MY_MODEL",
            "input.region": "cairns",
            "input.threads": "2",
        },
    )
    assert submitted.status_code == 303, submitted.text
    assert client.delete(URL, headers=admin_caller.headers).status_code == 200
    retired = client.get("/jobs/new?type=MY_MODEL")
    assert retired.status_code == 200
    assert 'name="input.region"' not in retired.text
    assert 'value="MY_MODEL"' not in retired.text  # not offered among the types either
