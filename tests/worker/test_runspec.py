"""Run specs: read from a type's revision over HTTP (a scripted server answers the
routes the web API will serve), each once per process, and checked."""

from __future__ import annotations

from typing import Any

import pytest

from shared.client import Claim, ShoalClient
from tests.shared.client.scripted_server import Reply, ScriptedServer
from worker.runspec import RunSpec, RunSpecError, RunSpecs

RUN = {"command": ["bash", "/app/run.sh"], "environment": {"MODEL_THREADS": "4"}}


def claim(revision: Any, job_type: str = "MY_MODEL") -> Claim:
    job = {"id": 5, "type": job_type, "input_payload": {}, "typeRevision": revision}
    return Claim(job=job, assignment={"id": 9, "attempt": 1})


def doc(revision: int, **changes: Any) -> dict[str, Any]:
    return {"name": "MY_MODEL", "revision": revision, "run": RUN, **changes}


def test_a_revision_is_read_once_and_each_revision_on_its_own(
    server: ScriptedServer, client: ShoalClient
) -> None:
    server.on("GET", "/api/job-types/MY_MODEL/revisions/3", Reply(200, doc(3)))
    grace = {**RUN, "stopGraceSeconds": 30}
    schema = {"type": "object", "required": ["cells"]}
    server.on(
        "GET",
        "/api/job-types/MY_MODEL/revisions/4",
        Reply(200, doc(4, run=grace, resultSchema=schema)),
    )
    specs = RunSpecs(client)
    first, again, fourth = (specs.spec_for(claim(n)) for n in (3, 3, 4))
    assert first is again
    assert first == RunSpec(("bash", "/app/run.sh"), {"MODEL_THREADS": "4"}, 10.0, None)
    assert fourth == RunSpec(("bash", "/app/run.sh"), {"MODEL_THREADS": "4"}, 30.0, schema)
    assert server.paths() == [
        "GET /api/job-types/MY_MODEL/revisions/3",
        "GET /api/job-types/MY_MODEL/revisions/4",
    ]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            Reply(404, {"message": "Job type MY_MODEL has no revision 3"}),
            "job type MY_MODEL revision 3 could not be read: 404: "
            "Job type MY_MODEL has no revision 3",
        ),
        (
            Reply(200, doc(3, run=None)),
            "job type MY_MODEL revision 3 has no run command: workers of its own serve it",
        ),
        (
            Reply(200, doc(3, run={"command": "bash /app/run.sh"})),
            "job type MY_MODEL revision 3: run.command must be a list of strings",
        ),
        (
            Reply(200, doc(3, run={**RUN, "environment": {"THREADS": 4}})),
            "job type MY_MODEL revision 3: run.environment must map names to strings",
        ),
        (
            Reply(200, doc(3, resultSchema={"type": "no such type"})),
            "job type MY_MODEL revision 3: resultSchema is invalid: ",
        ),
    ],
)
def test_an_unusable_revision_is_a_run_spec_error(
    server: ScriptedServer, client: ShoalClient, answer: Reply, error: str
) -> None:
    server.on("GET", "/api/job-types/MY_MODEL/revisions/3", answer)
    with pytest.raises(RunSpecError) as raised:
        RunSpecs(client).spec_for(claim(3))
    assert raised.value.message.startswith(error)


def test_a_job_without_a_type_revision_asks_nothing(
    server: ScriptedServer, client: ShoalClient
) -> None:
    with pytest.raises(RunSpecError) as raised:
        RunSpecs(client).spec_for(claim(None, job_type="SUITABILITY"))
    assert raised.value.message == (
        "job 5 names no revision of job type SUITABILITY: it has neither a handler in this "
        "worker nor a registered run command"
    )
    assert server.paths() == []
