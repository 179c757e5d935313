"""A finished job's outcome survives an API outage that outlasts the client's own retries,
for as long as the lease lasts and one lease period more (found by bench/chaos.py: results
dropped mid-restart; and by bench/dev_faults.py --fault pg-down: a result finished just as
PostgreSQL went away for longer than the lease)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from shared.client import ShoalClient
from shared.client.retry import RetryPolicy
from shared.jobtypes import default_registry
from shared.storage import storage_for_uri
from tests.e2e import live
from tests.e2e.helpers import job_in, wait_for
from tests.worker.conftest import InProcessApi
from worker.handlers import load_handlers
from worker.job import JobRun, JobTools


class RefusedResults(httpx.HTTPTransport):
    """Refuses the first ``failures`` result reports at the connection, as a restart does
    (or every one for ``seconds`` after the first, when given); the ``exit_after``-th
    refusal sets ``exiting`` (the worker's parent is gone)."""

    def __init__(self, failures: int, exit_after: int = 0, seconds: float | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.refused = 0
        self.exit_after = exit_after
        self.exiting = threading.Event()
        self.seconds = seconds
        self.first: float | None = None

    def _refusing(self) -> bool:
        if self.seconds is None:
            return self.refused < self.failures
        self.first = self.first or time.monotonic()
        return time.monotonic() - self.first < self.seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/result") and self._refusing():
            self.refused += 1
            if self.refused == self.exit_after:
                self.exiting.set()
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


def _run_one(
    api: InProcessApi,
    tmp_path: Path,
    failures: int,
    exit_after: int = 0,
    seconds: float | None = None,
) -> tuple[int, RefusedResults]:
    """Submit a TEST job, claim it and run it with a client whose reports are refused."""
    transport = RefusedResults(failures, exit_after, seconds)
    quick = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
    with (
        api.client() as admin,
        ShoalClient(api.url, api_key=api.worker_key, retry=quick, transport=transport) as client,
    ):
        job_id = admin.submit_job("TEST", {"id": 1})["jobId"]
        claim = client.claim(["TEST"], task_arn="local:test", cluster_arn="local")
        assert claim is not None and claim.job_id == job_id
        tools = JobTools(
            client=client,
            specs=default_registry(),
            handlers=load_handlers(),
            storage_for=lambda uri: storage_for_uri(uri, {}),
            work_dir=tmp_path / "work",
            heartbeat_seconds=1.0,
            exiting=transport.exiting,
        )
        JobRun(claim, tools).run()
    return job_id, transport


def test_the_outcome_is_reported_once_the_api_answers_again(
    api: InProcessApi, tmp_path: Path
) -> None:
    # Two calls of two attempts each fail outright, the third call gets through.
    job_id, transport = _run_one(api, tmp_path, failures=5)
    assert transport.refused == 5
    with api.client() as admin:
        job = admin.get_job(job_id)
    assert job["status"] == "SUCCEEDED"
    assert job["attempts"] == 1
    [assignment] = job["assignments"]
    assert assignment["outcome"] == "SUCCEEDED"


def test_a_late_outcome_is_reported_after_the_lease_ended(
    api: InProcessApi, tmp_path: Path
) -> None:
    """Refused for a lease and a half from the first report: past the lease's end (the
    sweep expires it meanwhile), nobody else claimed the job, so its result is taken."""
    job_id, transport = _run_one(api, tmp_path, failures=0, seconds=live.LEASE_SECONDS * 1.5)
    with api.client() as admin:
        job = admin.get_job(job_id)
    assert transport.refused > 4
    assert (job["status"], job["attempts"]) == ("SUCCEEDED", 1)
    assert [a["outcome"] for a in job["assignments"]] == ["SUCCEEDED"]


def test_reporting_stops_a_lease_after_the_lease_has_ended(
    api: InProcessApi, tmp_path: Path
) -> None:
    started = time.monotonic()
    job_id, transport = _run_one(api, tmp_path, failures=10_000)
    took = time.monotonic() - started
    assert transport.refused > 4  # it kept trying ...
    assert took < 2 * live.LEASE_SECONDS + 3  # ... but not a lease past the lease
    with api.client() as admin:
        job = wait_for(
            lambda: job_in(admin, job_id, "PENDING", "SUCCEEDED", "FAILED", "TIMED_OUT"),
            10,
            "the sweep to expire the lease",
        )
    assert job["status"] == "PENDING"  # no result was stored: the job will run again
    [lost] = job["assignments"]
    assert lost["outcome"] == "EXPIRED" and lost["result"] is None


def test_reporting_stops_at_once_when_the_worker_must_exit(
    api: InProcessApi, tmp_path: Path
) -> None:
    """Once what started the worker is gone, a result is not retried for the lease: the
    report that failed while it went away is the last."""
    _, transport = _run_one(api, tmp_path, failures=10_000, exit_after=3)
    # Two reports of two tries each: the second began after the first pause, and during
    # it the worker learnt it must exit.
    assert transport.refused == 4
