"""Following jobs through their event streams while a fault happens, as ``shoal jobs
watch`` does: one stream per job, opened again with ``Last-Event-ID`` whenever it ends
before the job did; then what the streams showed against what the jobs went through.

A job's history is read from its attempts at the end: PENDING, then IN_PROGRESS for each
attempt, then its final status (a PENDING between two attempts is there when the sweep
ended the first before a claim took it, not when the claim took over the expired lease
itself: it is allowed, not required). A stream reads the row when it is woken and sends
each (status, attempt) it finds, so a change it did not show is one that a later read
had already passed (two changes within one wake-up), or one lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from shared.client import ShoalClient
from shared.client.errors import ApiError, ApiUnavailable

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")
READ_TIMEOUT_SECONDS = 60.0
STREAMS_PER_CLIENT = 50  # within a client's pool of connections (httpx: 100)


@dataclass
class Seen:
    """What the streams of one job showed."""

    statuses: list[tuple[str, int]] = field(default_factory=list)  # (status, attempts)
    streams: int = 0  # opened, the first one included
    errors: list[str] = field(default_factory=list)  # why a stream ended early


class Follower:
    """One thread per job, each following its job's events until it ends."""

    def __init__(self, new_client: Callable[[], ShoalClient], job_ids: list[int]) -> None:
        self.seen = {job_id: Seen() for job_id in job_ids}
        self._clients = ExitStack()
        self._threads = []
        for n, job_id in enumerate(job_ids):
            if n % STREAMS_PER_CLIENT == 0:
                client = self._clients.enter_context(new_client())
            self._threads.append(
                threading.Thread(target=self._follow, args=(client, job_id), daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> list[int]:
        """Wait for every stream to see its job end; the ids of those still open."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            self._clients.close()
        return [job_id for job_id, seen in self.seen.items() if not _ended(seen)]

    def _follow(self, client: ShoalClient, job_id: int) -> None:
        seen, last_id = self.seen[job_id], None
        while not _ended(seen):
            seen.streams += 1
            try:
                for event in client.events(
                    job_id, read_timeout=READ_TIMEOUT_SECONDS, last_event_id=last_id
                ):
                    last_id = event["id"] or last_id
                    if event["event"] in ("status", "progress"):
                        status = (event["data"]["status"], event["data"]["attempts"])
                        if seen.statuses[-1:] != [status]:
                            seen.statuses.append(status)
            except (ApiUnavailable, ApiError, httpx.HTTPError) as error:
                seen.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(1)  # as EventSource's retry: hint says


def _ended(seen: Seen) -> bool:
    return bool(seen.statuses) and seen.statuses[-1][0] in TERMINAL


def history(job: dict[str, Any]) -> list[tuple[str, int]]:
    """The (status, attempts) a job went through, from its attempts (see the module's
    docstring), without the optional PENDING between two attempts."""
    attempts = len(job["assignments"])
    statuses = [("PENDING", 0), *(("IN_PROGRESS", n) for n in range(1, attempts + 1))]
    if statuses[-1] != (job["status"], attempts):
        statuses.append((job["status"], attempts))
    return statuses


def _required(job: dict[str, Any], got: list[tuple[str, int]]) -> list[tuple[str, int]]:
    last = len(job["assignments"])
    return [(s, n) for s, n in got if not (s == "PENDING" and 0 < n < last)]


@dataclass
class Comparison:
    changes: int  # status changes in the jobs' histories
    seen: int  # of those, shown by a stream
    reopened: int  # streams opened again (Last-Event-ID) after ending early
    wrong: list[str]  # a stream that showed what the job did not do, or no end
    missed: list[str]  # each change no stream showed, with how long the status lasted


def compare(follower: Follower, jobs: list[dict[str, Any]]) -> Comparison:
    """What the streams showed against the jobs' histories."""
    changes = seen = 0
    wrong, missed = [], []
    for job in jobs:
        expected = history(job)
        got = _required(job, follower.seen[job["id"]].statuses)
        changes += len(expected) - 1
        if not got or got[-1] != expected[-1] or not _in_order(got, expected):
            wrong.append(f"job {job['id']}: streams showed {got}, history {expected}")
            continue
        # The first status a stream shows is the job's state then, not a change.
        start = expected.index(got[0])
        seen += len(got) - 1 + start  # what happened before the stream opened counts as seen
        if len(got) < len(expected) - start:
            missed.append(
                f"job {job['id']}: streams showed {got}, history {expected}; attempts {_spans(job)}"
            )
    reopened = sum(s.streams - 1 for s in follower.seen.values())
    return Comparison(changes, seen, reopened, wrong, missed)


def _spans(job: dict[str, Any]) -> str:
    """When each attempt started and ended (UTC), and how long it ran."""
    spans = []
    for attempt in job["assignments"]:
        began, ended = attempt["created_at"], attempt["completed_at"]
        took = ""
        if ended:
            ran = datetime.fromisoformat(ended) - datetime.fromisoformat(began)
            took = f" ({ran.total_seconds() * 1000:.0f} ms)"
        spans.append(f"{began[11:23]}-{(ended or '')[11:23]}{took}")
    return ", ".join(spans)


def _in_order(got: list[tuple[str, int]], expected: list[tuple[str, int]]) -> bool:
    """``got`` is ``expected`` with some entries left out (a subsequence)."""
    rest = iter(expected)
    return all(status in rest for status in got)
