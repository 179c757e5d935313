"""A lease that runs out while PostgreSQL is down is not over: for one lease period after
the database starts again, nobody takes the job over and the sweep leaves it, so its
worker's heartbeat or late result still lands and no attempt is spent on the outage.

The app runs on a PostgreSQL server of the test's own, stopped and started for real.
"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.support.queue import expire_leases
from webapi.jobs.runtime import EXTENSION
from webapi.store.embedded_pg import EmbeddedPostgres
from webapi.store.engine import make_engine

pytestmark = pytest.mark.slow

CLAIM = {"jobTypes": ["TEST"], "ecsClusterArn": "cluster"}


@pytest.fixture
def web_env(web_env: dict[str, str], private_server: tuple[EmbeddedPostgres, str]) -> dict:
    # A lease longer than the test: the grace after the restart is one lease period.
    overrides = '{"TEST": {"leaseSeconds": 300}}'
    return {**web_env, "DATABASE_URL": private_server[1], "SHOAL_JOB_OVERRIDES": overrides}


def _claim(client, worker, task: str):
    return client.post("/api/jobs/claim", json=CLAIM | {"ecsTaskArn": task}, headers=worker.headers)


def _served_again(client, path: str, headers: dict[str, str]) -> None:
    """Once: a connection used just before the restart answers 503 and resets the pool
    (webapi.store.engine)."""
    for _ in range(3):
        if client.get(path, headers=headers).status_code == 200:
            return
    raise AssertionError(f"{path} is not served after the restart")


def test_a_lease_that_ran_out_while_the_database_was_down_is_kept_for_its_worker(
    app: Flask, client, analyst, worker, submit, private_server
) -> None:
    server, url = private_server
    job_id = submit({"id": 1})
    first = _claim(client, worker, "one").json["assignment"]
    server.stop("fast")
    server.start()
    _served_again(client, f"/api/jobs/{job_id}", analyst.headers)
    # The outage outlasted the lease: it ended while nothing could renew it.
    engine = make_engine(url)  # the app's own connections find out about the restart
    expire_leases(engine)
    engine.dispose()
    assert _claim(client, worker, "two").status_code == 204  # not taken over
    runtime = app.extensions[EXTENSION]
    assert runtime.queue.expire().totals() == (0, 0)  # nor ended by the sweep
    attempt = f"/api/jobs/assignments/{first['id']}"
    beat = client.post(f"{attempt}/heartbeat", json={"progress": 0.5}, headers=worker.headers)
    assert beat.status_code == 200, beat.text
    done = {"status": "SUCCEEDED", "resultPayload": {}}
    assert client.post(f"{attempt}/result", json=done, headers=worker.headers).status_code == 200
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert (job["status"], job["attempts"]) == ("SUCCEEDED", 1)
    assert [a["outcome"] for a in job["assignments"]] == ["SUCCEEDED"]


def test_a_lease_that_runs_out_after_the_database_started_is_over(
    client, services, analyst, worker, submit
) -> None:
    """The grace is for leases the outage cut off, not for those claimed after it."""
    job_id = submit({"id": 1})
    _claim(client, worker, "one")
    expire_leases(services.engine)
    assert _claim(client, worker, "two").json["assignment"]["attempt"] == 2
    job = client.get(f"/api/jobs/{job_id}", headers=analyst.headers).json["job"]
    assert [a["outcome"] for a in job["assignments"]] == ["EXPIRED", None]
