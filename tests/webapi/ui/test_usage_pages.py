"""The dashboard's usage page through Flask's test client: the period picker, who sees
whose usage, bad input as a 400 naming the field, and the API's own figures."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.errors import InvalidInput
from tests.webapi.conftest import MakeUser
from tests.webapi.jobs.test_batch_status import _succeed, _take
from tests.webapi.ui.conftest import login
from webapi.ui.figures import amount, money
from webapi.ui.usage import period_of

NOW = datetime(2027, 1, 9, 15, 30, tzinfo=UTC)


@pytest.fixture
def ana(client: FlaskClient, make_user: MakeUser, auth_headers) -> SimpleNamespace:
    user_id, token = make_user("ana@example.org")
    login(client, "ana@example.org")
    return SimpleNamespace(id=user_id, headers=auth_headers(token))


def test_the_periods_are_whole_utc_days() -> None:
    this = period_of({}, NOW)
    assert (this.first, this.last, this.end) == (date(2027, 1, 1), date(2027, 1, 9), NOW)
    assert this.start == datetime(2027, 1, 1, tzinfo=UTC) and len(this.days) == 9
    last = period_of({"period": "last-month"}, NOW)
    assert (last.first, last.last) == (date(2026, 12, 1), date(2026, 12, 31))
    assert last.end == datetime(2027, 1, 1, tzinfo=UTC)
    custom = period_of({"from": "2026-12-30", "to": "2027-01-02"}, NOW)
    assert custom.choice == "custom" and len(custom.days) == 4
    assert custom.end == datetime(2027, 1, 3, tzinfo=UTC)  # the last day is included
    assert period_of({"period": "custom", "from": "2027-01-05"}, NOW).last == NOW.date()


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"period": "lately"}, "period", "period must be one of this-month, last-month"),
        ({"from": "2027-02-30"}, "from", "from must be a date (YYYY-MM-DD)."),
        ({"period": "custom"}, "from", "from must be a date (YYYY-MM-DD)."),
        ({"from": "2027-01-01", "to": "1 Jan"}, "to", "to must be a date (YYYY-MM-DD)."),
        ({"from": "2027-01-05", "to": "2027-01-04"}, "from", "from must not be after to."),
        ({"from": "2025-01-01", "to": "2027-01-01"}, "to", "A period is at most 366 days."),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from", "from must be from 2000-01-01"),
        ({"from": "2026-12-01", "to": "9999-12-31"}, "to", "to must be from 2000-01-01"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(
    args: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        period_of(args, NOW)
    assert refused.value.message.startswith(message) and field in refused.value.errors


def test_a_bad_period_on_the_page_is_a_400_with_the_form_kept(
    client: FlaskClient, ana: SimpleNamespace
) -> None:
    page = client.get("/usage?from=2027-01-05&to=2027-01-04")
    assert page.status_code == 400
    assert "from must not be after to." in page.text
    assert 'id="usage-from" name="from" type="date" value="2027-01-05"' in page.text
    assert 'id="usage-totals"' not in page.text
    for bad in ("me", "0", "99999999999", "²", "-1"):
        refused = client.get("/usage", query_string={"user": bad})
        assert refused.status_code == 400 and "user must be a user id." in refused.text


def test_a_researcher_sees_only_their_own_usage(
    client: FlaskClient, ana: SimpleNamespace, make_user: MakeUser
) -> None:
    other, _ = make_user("bob@example.org")
    page = client.get("/usage")
    assert page.status_code == 200
    assert '<a href="/usage" aria-current="page">Usage</a>' in page.text
    assert 'id="top-types"' in page.text or "Top job types" in page.text
    assert "Top users" not in page.text and 'id="usage-user"' not in page.text
    refused = client.get(f"/usage?user={other}")
    assert refused.status_code == 403 and "Only admins" in refused.text
    assert client.get(f"/usage?user={ana.id}").status_code == 200


def test_an_admin_sees_everyone_and_one_user(
    app: Flask, make_user: MakeUser, ana: SimpleNamespace
) -> None:
    make_user("root@example.org", ("ADMIN",))
    client = app.test_client()
    login(client, "root@example.org")
    page = client.get("/usage?period=last-month").text
    assert "Top users" in page and 'id="usage-user"' in page
    one = client.get(f"/usage?user={ana.id}").text
    assert f"Usage of user {ana.id}" in one and "Top users" not in one
    assert re.search(r'<option value="last-month" selected>', page)


def _figure(page: str, id_: str) -> tuple[str, str]:
    found = re.search(rf'<data id="{id_}" class="figure" value="([^"]+)">([^<]+)</data>', page)
    assert found, f"no figure {id_}"
    return found.group(1), found.group(2)


def test_the_pages_show_the_apis_figures(
    client: FlaskClient, ana: SimpleNamespace, api_key, make_user: MakeUser, auth_headers
) -> None:
    # A high price, so that attempts of milliseconds cost more than a millionth.
    root = auth_headers(make_user("root@example.org", ("ADMIN",))[1])
    price = {"vcpuHour": 900, "gbHour": 100}
    answer = client.put("/api/usage/prices/us-east-1/on_demand", json=price, headers=root)
    assert answer.status_code == 200, answer.json
    worker = {"headers": api_key(("WORKER",)).headers}
    body = {"type": "TEST", "name": "costed", "inputs": [{"id": 1}, {"id": 2}]}
    batch = client.post("/api/jobs/batch", json=body, headers=ana.headers).json
    done = SimpleNamespace(**worker)
    for assignment in _take(client, done, *batch["jobIds"]):
        _succeed(client, done, assignment)
    job_id = batch["jobIds"][1]  # its attempt 1 is not assignment 1
    job = client.get(f"/api/jobs/{job_id}", headers=ana.headers).json["job"]
    status = client.get(f"/api/jobs/batches/{batch['batchId']}", headers=ana.headers).json
    report = client.get("/api/usage?by=type", headers=ana.headers).json
    assert job["usage"]["attempts"] == 1 and status["usage"]["attempts"] == 2

    page = client.get(f"/jobs/{job_id}").text
    for name, key in (("cost", "cost"), ("vcpu-seconds", "vcpuSeconds")):
        assert _figure(page, f"job-{name}")[0] == str(job["usage"][key])
    [attempt] = job["assignments"]
    assert attempt["id"] != attempt["attempt"]
    assert _figure(page, "attempt-1-cost") == (str(attempt["cost"]), money(attempt["cost"]))
    assert f"{amount(attempt['vcpu'])} vCPU, {amount(attempt['memoryGb'])} GB" in page
    page = client.get(f"/batches/{batch['batchId']}").text
    batch_cost = status["usage"]["cost"]
    assert _figure(page, "batch-cost") == (str(batch_cost), money(batch_cost)) and batch_cost > 0
    assert _figure(page, "batch-vcpu-seconds")[0] == str(status["usage"]["vcpuSeconds"])
    page = client.get("/usage").text
    total = report["total"]
    assert _figure(page, "total-cost") == (str(total["cost"]), money(total["cost"]))
    assert _figure(page, "total-vcpu-seconds")[0] == str(total["vcpuSeconds"])
    assert '<data id="total-attempts" value="2">2</data>' in page
    [row] = report["rows"]
    shown = re.search(r'<tr id="type-TEST">.*?</tr>', page, re.S)
    assert shown and f'value="{row["cost"]}">{money(row["cost"])}</data>' in shown.group(0)
    assert f'value="{row["vcpuSeconds"]}">{amount(row["vcpuSeconds"])}</data>' in shown.group(0)


def test_a_workflows_page_shows_what_its_jobs_cost_so_far(
    client: FlaskClient, ana: SimpleNamespace, api_key
) -> None:
    worker = SimpleNamespace(headers=api_key(("WORKER",)).headers)
    steps = [{"name": "one", "type": "TEST", "input": {"id": 7}}]
    answer = client.post("/api/workflows", json={"name": "w", "steps": steps}, headers=ana.headers)
    assert answer.status_code == 201, answer.json
    flow_id = answer.json["workflow"]["id"]
    [step] = answer.json["workflow"]["steps"]
    [assignment] = _take(client, worker, step["jobId"])
    page = client.get(f"/workflows/{flow_id}").text
    assert "Cost so far" in page  # its one job still runs
    _succeed(client, worker, assignment)
    flow = client.get(f"/api/workflows/{flow_id}", headers=ana.headers).json["workflow"]
    page = client.get(f"/workflows/{flow_id}").text
    assert flow["usage"]["attempts"] == 1 and "Cost so far" not in page
    for name, key in (("cost", "cost"), ("vcpu-seconds", "vcpuSeconds")):
        assert _figure(page, f"workflow-{name}")[0] == str(flow["usage"][key])


def test_a_job_types_page_estimates_one_job_and_100_inputs_as_the_api(
    client: FlaskClient, ana: SimpleNamespace
) -> None:
    def estimate(inputs: int) -> dict:
        query = f"/api/usage/estimate?jobType=TEST&inputs={inputs}"
        found: dict = client.get(query, headers=ana.headers).json
        return found

    one, hundred = estimate(1), estimate(100)
    page = client.get("/job-types/TEST").text
    assert _figure(page, "estimate-job-cost") == (str(one["cost"]), money(one["cost"]))
    assert _figure(page, "estimate-batch-cost") == (str(hundred["cost"]), money(hundred["cost"]))
    assert _figure(page, "estimate-run-seconds")[0] == str(one["runSeconds"])
    assert one["basis"] == "timeout" and "an upper bound, from its run-time limit" in page
    assert hundred["cost"] > 0
