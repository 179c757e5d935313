"""A type changed while jobs wait: the waiting jobs keep the revision they were submitted
under (lease, attempts, run-time limit, assign lease, result schema, bound on attempts lost
to the platform), new ones get the new."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from shared.errors import InvalidInput
from shared.jobtypes.document import RegisteredType
from tests.webapi.admin.test_local_admin import take_lease

URL = "/api/job-types/MY_MODEL"


def _claim(client, worker) -> dict[str, Any]:
    body = {"jobTypes": ["MY_MODEL"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}
    answer = client.post("/api/jobs/claim", json=body, headers=worker.headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def _result(client, worker, assignment_id: int, payload: dict[str, Any]):
    return client.post(
        f"/api/jobs/assignments/{assignment_id}/result",
        json={"status": "SUCCEEDED", "resultPayload": payload},
        headers=worker.headers,
    )


def _pinned(services) -> dict[int, tuple[Any, ...]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, type_revision, lease_seconds, max_attempts, timeout_seconds FROM jobs")
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_waiting_jobs_keep_their_revision_and_new_ones_get_the_new(
    client, analyst, worker, admin_caller, model, services
) -> None:
    model["assignLeaseSeconds"] = 500
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    single = client.post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "single"}},
        headers=analyst.headers,
    ).json["jobId"]
    batch = client.post(
        "/api/jobs/batch",
        json={"type": "MY_MODEL", "inputs": [{"region": "b1"}, {"region": "b2"}]},
        headers=analyst.headers,
    ).json["jobIds"]
    changed = {
        **model,
        "leaseSeconds": 90,
        "maxAttempts": 5,
        "timeoutSeconds": 900,
        "assignLeaseSeconds": 120,
        "resultSchema": {
            "type": "object",
            "required": ["area"],
            "properties": {"area": {"type": "number"}},
            "additionalProperties": False,
        },
    }
    assert client.put(URL, json=changed, headers=admin_caller.headers).json["revision"] == 2
    newer = client.post(
        "/api/jobs",
        json={"type": "MY_MODEL", "inputPayload": {"region": "newer"}},
        headers=analyst.headers,
    ).json["jobId"]
    old, new = (1, 30, 2, 600), (2, 90, 5, 900)
    assert _pinned(services) == {single: old, batch[0]: old, batch[1]: old, newer: new}

    # The oldest waiting job is claimed first: revision 1, and its result is checked
    # against revision 1's schema, not today's.
    first = _claim(client, worker)
    assert (first["job"]["id"], first["job"]["typeRevision"]) == (single, 1)
    assignment = first["assignment"]["id"]
    refused = _result(client, worker, assignment, {"area": 1})
    assert refused.status_code == 400
    assert refused.json["errors"]["resultPayload.cells"] == ["Missing data for required field."]
    assert _result(client, worker, assignment, {"cells": 1}).status_code == 200

    # ReefGuide's assign: the lease is the job's revision's assignLeaseSeconds.
    leases = {}
    for job_id in (batch[0], newer):
        assigned = client.post(
            "/api/jobs/assign",
            json={"jobId": job_id, "ecsTaskArn": "task", "ecsClusterArn": "cluster"},
            headers=worker.headers,
        )
        assert assigned.status_code == 200, assigned.json
        leases[job_id] = assigned.json["assignment"]["id"]
    with services.engine.connect() as conn:
        seconds = dict(
            conn.execute(
                text(
                    "SELECT job_id, round(extract(epoch FROM expires_at - created_at))"
                    " FROM job_assignments WHERE id = ANY(:ids)"
                ),
                {"ids": list(leases.values())},
            ).all()
        )
    assert seconds == {batch[0]: 500, newer: 120}
    assert _result(client, worker, leases[newer], {"area": 2}).status_code == 200
    assert _result(client, worker, leases[batch[0]], {"area": 2}).status_code == 400

    revision = client.get(f"{URL}/revisions/1", headers=worker.headers).json
    assert (revision["revision"], revision["resultSchema"]["required"]) == (1, ["cells"])


def test_a_revision_read_back_is_a_type_a_worker_can_check_results_with(
    client, worker, admin_caller, model
) -> None:
    """What the command runner does: fetch the revision its job names, build its spec."""
    assert client.put(URL, json=model, headers=admin_caller.headers).status_code == 201
    doc = client.get(f"{URL}/revisions/1", headers=worker.headers).json
    assert {"revision", "createdBy", "contentHash", "createdAt", "source"} <= set(doc)
    spec = RegisteredType.from_wire(doc).spec(doc["revision"])
    assert (spec.name, spec.revision, spec.lease_seconds) == ("MY_MODEL", 1, 30)
    assert spec.validate_result({"cells": 2}) == {"cells": 2}
    with pytest.raises(InvalidInput) as refused:
        spec.validate_result({"cells": "many"})
    assert refused.value.errors == {"resultPayload.cells": ["'many' is not of type 'integer'"]}


def test_a_worker_lost_to_the_platform_is_judged_by_each_jobs_revision(
    client, analyst, worker, api_key, admin_caller, model
) -> None:
    """Revision 1 lets no loss go uncounted, revision 2 one: one worker holding a job of
    each is lost to the platform; only the second job's attempt is spared."""
    manager = api_key(("MANAGER",))
    jobs = []
    for revision, bound in ((1, 0), (2, 1)):
        changed = {**model, "maxAttempts": 1, "maxPlatformRetries": bound}
        assert client.put(URL, json=changed, headers=admin_caller.headers).json["revision"] == (
            revision
        )
        submitted = client.post(
            "/api/jobs",
            json={"type": "MY_MODEL", "inputPayload": {"region": f"r{revision}"}},
            headers=analyst.headers,
        )
        jobs.append(submitted.json["jobId"])
    assert [_claim(client, worker)["job"]["id"] for _ in jobs] == jobs
    assert take_lease(client, manager.headers, "m1")["held"]
    lost = client.post(
        "/api/manager/workers/lost",
        json={"holder": "m1", "workers": [{"taskArn": "task", "reason": "Spot", "platform": True}]},
        headers=manager.headers,
    )
    assert lost.status_code == 200, lost.json
    assert lost.json["workers"] == [
        {"taskArn": "task", "requeued": [jobs[1]], "timedOut": [jobs[0]], "spared": 1}
    ]
