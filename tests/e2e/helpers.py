"""Small waits and reads for the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from shared.client import ShoalClient

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def job_in(client: ShoalClient, job_id: int, *statuses: str) -> dict | None:
    job = client.get_job(job_id)
    return job if job["status"] in statuses else None


def count(client: ShoalClient, status: str, job_type: str = "TEST") -> int:
    total: int = client.list_jobs(status=status, type=job_type, limit=1)["total"]
    return total
