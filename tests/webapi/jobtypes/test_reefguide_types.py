"""ReefGuide's job types, registered from examples/reefguide/job-types.yaml with one
``shoal types apply -f``, and one of their jobs taken and completed as a ReefGuide worker
does: login, poll, assign, result."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.conftest import run_shoal
from tests.webapi.conftest import PASSWORD
from webapi import accounts

FILE = Path(__file__).parents[3] / "examples" / "reefguide" / "job-types.yaml"
NAMES = [
    "ADRIA_MODEL_RUN",
    "DATA_SPECIFICATION_UPDATE",
    "REGIONAL_ASSESSMENT",
    "SUITABILITY_ASSESSMENT",
]


def test_reefguide_types_register_from_the_file_and_run_through_the_reefguide_routes(
    live_url, http, admin_caller, analyst, services
) -> None:
    documents = yaml.safe_load(FILE.read_text())["jobTypes"]
    assert sorted(doc["name"] for doc in documents) == NAMES
    # An operator registers them with one command (admin_caller is admin@example.org).
    admin_env = {"SHOAL_API_URL": live_url, "SHOAL_EMAIL": "admin@example.org"}
    applied = run_shoal(
        ["types", "apply", "-f", str(FILE)], {**admin_env, "SHOAL_PASSWORD": PASSWORD}
    )
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.splitlines() == [
        f"{doc['name']}: created (revision 1)" for doc in documents
    ]
    listed = http.get(f"{live_url}/api/job-types", headers=analyst.headers).json()["jobTypes"]
    assert [doc["name"] for doc in listed] == sorted([*NAMES, "POLYGON_STATS", "TEST"])
    assert [doc["run"] for doc in listed if doc["name"] in NAMES] == [None] * len(NAMES)

    # The app submits with ReefGuide's own input (its zod schema's shape).
    example = next(doc for doc in documents if doc["name"] == "ADRIA_MODEL_RUN")["exampleInput"]
    submitted = http.post(
        f"{live_url}/api/jobs",
        json={"type": "ADRIA_MODEL_RUN", "inputPayload": example},
        headers=analyst.headers,
    )
    assert submitted.status_code == 200, submitted.json()
    job_id = submitted.json()["jobId"]
    wrong = http.post(
        f"{live_url}/api/jobs",
        json={"type": "ADRIA_MODEL_RUN", "inputPayload": {**example, "data_package": "X"}},
        headers=analyst.headers,
    )
    assert wrong.json()["errors"] == {
        "inputPayload.data_package": ["'X' is not one of ['MOORE', 'GBR']"]
    }

    # The ReefGuide worker: a WORKER user logging in with email and password.
    with services.transaction() as conn:
        accounts.create_user(
            conn,
            services.passwords,
            email="reef-worker@example.org",
            password="reef-worker-password",
            roles=["WORKER"],
        )
    login = http.post(
        f"{live_url}/api/auth/login",
        json={"email": "reef-worker@example.org", "password": "reef-worker-password"},
    )
    headers = {
        "Authorization": f"Bearer {login.json()['token']}",
        "Content-Type": "application/json",
    }
    polled = http.get(
        f"{live_url}/api/jobs/poll", params={"jobType": "ADRIA_MODEL_RUN"}, headers=headers
    ).json()["jobs"]
    assert [(j["id"], j["type"], j["input_payload"]) for j in polled] == [
        (job_id, "ADRIA_MODEL_RUN", example)
    ]
    assigned = http.post(
        f"{live_url}/api/jobs/assign",
        headers=headers,
        content=json.dumps(
            {"jobId": job_id, "ecsTaskArn": "arn:aws:ecs:task/1", "ecsClusterArn": "arn:aws:ecs:c"}
        ),
    )
    assert assigned.status_code == 200
    assignment = assigned.json()["assignment"]
    # ReefGuide's ADRIA expiry: four hours.
    with services.engine.connect() as conn:
        seconds = conn.exec_driver_sql(
            "SELECT round(extract(epoch FROM expires_at - created_at)) FROM job_assignments"
        ).scalar_one()
    assert seconds == 14400
    result_url = f"{live_url}/api/jobs/assignments/{assignment['id']}/result"
    refused = http.post(
        result_url,
        headers=headers,
        content=json.dumps({"status": "SUCCEEDED", "resultPayload": {"spatial_metrics_path": 1}}),
    )
    assert refused.status_code == 400
    result = {
        "spatial_metrics_path": "spatial_metrics.parquet",
        "reef_boundaries_path": "reefs.geojson",
        "output_result_set_path": "result_set",
        "available_charts": {"Coral cover": "charts/cover.png"},
        "chart_metadata": {
            "cover": {
                "metric_name": "relative_cover",
                "filename": "charts/cover.png",
                "y_label": "Cover",
                "description": "Relative coral cover",
                "generation_time_seconds": 1.5,
            }
        },
        "_perf": {"time_taken_s": 12.5, "peak_rss_mb": 900.0},
    }
    done = http.post(
        result_url,
        headers=headers,
        content=json.dumps({"status": "SUCCEEDED", "resultPayload": result}),
    )
    assert (done.status_code, done.json()["job"]["status"]) == (200, "SUCCEEDED")
    job = http.get(f"{live_url}/api/jobs/{job_id}", headers=analyst.headers).json()["job"]
    assert (
        job["assignments"][0]["result"]["result_payload"]["output_result_set_path"] == "result_set"
    )
