"""``shoal jobs logs`` against the real web API (following live: tests/e2e/test_job_logs.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.conftest import FakeWorker, Shoal


def shipped(*messages: str) -> list[dict[str, object]]:
    return [
        {"seq": n, "time": "2026-11-30T01:00:00Z", "level": "INFO", "stream": "stdout"}
        | {"message": message}
        for n, message in enumerate(messages)
    ]


def test_logs_prints_every_line_as_text_or_json(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], fake_worker: Callable[..., FakeWorker]
) -> None:
    job_id = submit_job({"id": 11})
    fake_worker(progress=[], logs=shipped("reading", "writing"), pause=0).join()
    text = shoal_as_analyst("jobs", "logs", str(job_id))
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines() == [
        f"2026-11-30T01:00:00.000Z #1 stdout   {message}" for message in ("reading", "writing")
    ]
    jsonl = shoal_as_analyst("jobs", "logs", str(job_id), "--format", "jsonl", "--attempt", "1")
    assert [json.loads(line)["message"] for line in jsonl.stdout.splitlines()] == [
        "reading",
        "writing",
    ]
    other = shoal_as_analyst("jobs", "logs", str(job_id), "--attempt", "2")
    assert other.exit_code == 0 and other.stdout == ""
