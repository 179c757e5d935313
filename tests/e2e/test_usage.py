"""Usage and cost with real processes: TEST jobs of known durations on ``shoal worker``
processes, one taken over after its worker was killed, one cancelled while it ran, one
failed. Per job, batch, user and type, the API and ``shoal usage`` give exactly the sums
of the attempts' own run times (claim to end, read from their rows) × size × price."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.e2e import live
from tests.e2e.conftest import ADMIN_EMAIL, SHOAL, LiveApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for

pytestmark = pytest.mark.slow

MONEY, SECONDS = Decimal("0.000001"), Decimal("0.001")
FIGURES = ("attempts", "vcpuSeconds", "gbSeconds", "cost")

# Every attempt with what it used, from its own row and the price of its capacity.
ATTEMPTS = """
SELECT a.job_id, a.outcome, j.user_id, j.type,
       (SELECT q.batch_id FROM job_requests q WHERE q.job_id = j.id AND NOT q.cache_hit) AS batch,
       extract(epoch FROM a.completed_at - a.created_at) AS run, a.vcpu, a.memory_gb,
       p.vcpu_hour, p.gb_hour
FROM job_assignments a JOIN jobs j ON j.id = a.job_id
JOIN prices p ON p.region = 'us-east-1' AND p.capacity = a.capacity
WHERE a.completed_at IS NOT NULL
"""


class Sums:
    """Attempts, vCPU-seconds, GB-seconds and cost, summed exactly."""

    def __init__(self) -> None:
        self.attempts = 0
        self.vcpu = self.gb = self.cost = Decimal(0)

    def add(self, row: Any) -> None:
        vcpu, gb = row.run * row.vcpu, row.run * row.memory_gb
        self.attempts += 1
        self.vcpu += vcpu
        self.gb += gb
        self.cost += (vcpu * row.vcpu_hour + gb * row.gb_hour) / 3600

    def wire(self) -> tuple[object, ...]:
        """As the API rounds them."""
        return (
            self.attempts,
            float(self.vcpu.quantize(SECONDS)),
            float(self.gb.quantize(SECONDS)),
            float(self.cost.quantize(MONEY)),
        )


def _figures(usage: dict[str, Any]) -> tuple[object, ...]:
    return tuple(usage[name] for name in FIGURES)


def _shoal(api: LiveApi, *args: str) -> str:
    env = {
        **live.base_env(),
        "SHOAL_API_URL": api.url,
        "SHOAL_EMAIL": ADMIN_EMAIL,
        "SHOAL_PASSWORD": api.admin_password,
    }
    done = subprocess.run(
        [SHOAL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_usage_sums_each_attempt_exactly_in_the_api_and_the_cli(
    live_api: LiveApi, worker_process: Callable[..., WorkerProcess], db_url_str: str
) -> None:
    with live_api.client() as client:
        # Taken over: its first worker is killed mid-run, a second finishes it.
        taken = client.submit_job("TEST", {"id": 1, "durationSeconds": 2})["jobId"]
        first = worker_process("TEST", SHOAL_CLAIM_WAIT_SECONDS=1)
        wait_for(lambda: job_in(client, taken, "IN_PROGRESS"), 30, "the job to start")
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(5)
        worker_process("TEST")
        wait_for(lambda: job_in(client, taken, "SUCCEEDED"), 60, "the takeover to succeed")
        batch = client.submit_batch("TEST", [{"id": n, "durationSeconds": 0.5} for n in (2, 3, 4)])
        failed = client.submit_job("TEST", {"id": 5, "durationSeconds": 0.2, "fail": True})["jobId"]
        for job_id in batch["jobIds"]:
            wait_for(lambda j=job_id: job_in(client, j, "SUCCEEDED"), 60, "the batch to succeed")
        wait_for(lambda: job_in(client, failed, "FAILED"), 60, "the failing job to fail")
        # Cancelled while it runs: it counts what ran, claim to cancel.
        cancelled = client.submit_job("TEST", {"id": 6, "durationSeconds": 600})["jobId"]
        wait_for(lambda: job_in(client, cancelled, "IN_PROGRESS"), 30, "the long job to start")
        client.cancel_job(cancelled)

        engine = create_engine(db_url_str)
        try:
            with engine.connect() as conn:
                attempts = conn.execute(text(ATTEMPTS)).all()
        finally:
            engine.dispose()
        per: dict[tuple[str, object], Sums] = defaultdict(Sums)
        for row in attempts:
            for key in (("job", row.job_id), ("batch", row.batch), ("type", row.type)):
                per[key].add(row)
            per[("user", row.user_id)].add(row)
            per[("all", None)].add(row)
        outcomes = sorted((row.job_id, row.outcome) for row in attempts)
        assert [o for j, o in outcomes if j == taken] == ["EXPIRED", "SUCCEEDED"]
        assert [o for j, o in outcomes if j == cancelled] == ["CANCELLED"]
        assert [o for j, o in outcomes if j == failed] == ["FAILED"]
        assert per[("all", None)].attempts == 7

        for job_id in (taken, failed, cancelled, *batch["jobIds"]):
            job = client.get_job(job_id)
            assert _figures(job["usage"]) == per[("job", job_id)].wire(), job_id
            assert [a["cost"] for a in job["assignments"]] == [
                float(
                    (
                        (r.run * r.vcpu * r.vcpu_hour + r.run * r.memory_gb * r.gb_hour) / 3600
                    ).quantize(MONEY)
                )
                for r in sorted(attempts, key=lambda r: r.outcome != "EXPIRED")
                if r.job_id == job_id
            ]
        status = client.batch_status(batch["batchId"])
        assert _figures(status["usage"]) == per[("batch", batch["batchId"])].wire()
        window = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
        [owner] = {row.user_id for row in attempts}
        expected_rows = {
            "type": ("TEST", per[("type", "TEST")]),
            "batch": (str(batch["batchId"]), per[("batch", batch["batchId"])]),
            "user": (str(owner), per[("user", owner)]),
        }
        for by, (key, sums) in expected_rows.items():
            report = client.request("GET", "/api/usage", params={"by": by, **window})
            rows = {row["key"]: row for row in report["rows"]}
            assert _figures(rows[key]) == sums.wire(), by
        report = client.request("GET", "/api/usage", params={"by": "day", **window})
        assert _figures(report["total"]) == per[("all", None)].wire()

    # The CLI: the report as CSV, and the job's usage in `shoal jobs get`.
    table = list(
        csv.DictReader(
            io.StringIO(
                _shoal(
                    live_api,
                    "usage",
                    "--by",
                    "type",
                    "--format",
                    "csv",
                    "--from",
                    window["from"],
                    "--to",
                    window["to"],
                )
            )
        )
    )
    [test_row, total] = table
    assert test_row["key"] == "TEST" and total["key"] == "total"
    expected = per[("type", "TEST")]
    assert Decimal(test_row["cost"]) == expected.cost.quantize(MONEY)
    assert Decimal(test_row["vcpuSeconds"]) == expected.vcpu.quantize(SECONDS)
    assert int(test_row["attempts"]) == 7
    shown = _shoal(live_api, "jobs", "get", str(taken))
    taken_sums = per[("job", taken)]
    assert f"{taken_sums.vcpu.quantize(SECONDS)} vCPU-s" in shown
    assert f"over 2 attempts: {taken_sums.cost.quantize(MONEY)} USD" in shown
