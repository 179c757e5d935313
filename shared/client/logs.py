"""Following a job's log live: what is stored, then what arrives, each line once.

The events stream is opened first and its first event awaited (the server has
subscribed by then), then the stored lines are paged through, then the stream's
``log`` events follow. A line can come both ways; it is shown once, by its
``(attempt, seq)``. When the job has ended (or the stream dropped), the pages are
read again from the last one, so a line the stream missed still shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import Any, cast

import httpx

from shared.client.client import ShoalClient
from shared.client.errors import ApiUnavailable
from shared.enums import JobStatus

Line = dict[str, Any]
TERMINAL = frozenset(status.value for status in JobStatus if status.terminal)
READ_TIMEOUT_SECONDS = 90.0
MAX_RECONNECTS = 5


class _Seen:
    """Which lines were shown: the highest ``seq`` per attempt (lines come in order),
    and the API's own notes (stream ``shoal``, e.g. a cut) by their text."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.notes: set[tuple[int, int, str]] = set()
        self.event_id: str | None = None  # the stream's, for a reconnect (Last-Event-ID)

    def first_time(self, line: Line) -> bool:
        attempt, seq = int(line["attempt"]), int(line["seq"])
        if line.get("stream") == "shoal":
            key = (attempt, seq, str(line.get("message")))
            if key in self.notes:
                return False
            self.notes.add(key)
            return True
        if seq <= self.last.get(attempt, -1):
            return False
        self.last[attempt] = seq
        return True


class _Pages:
    """The stored lines, read again from the start of the last page each time."""

    def __init__(self, client: ShoalClient, job_id: int, attempt: int | None) -> None:
        self.client, self.job_id, self.attempt = client, job_id, attempt
        self.after: str | None = None

    def read(self) -> Iterator[Line]:
        for line, page in self.client.iter_job_logs(
            self.job_id, attempt=self.attempt, after=self.after
        ):
            self.after = page
            yield line


def follow_logs(
    client: ShoalClient,
    job_id: int,
    *,
    attempt: int | None = None,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Line]:
    """Every log line of the job (of one ``attempt``, if given), live until the job ends.

    ``on_status`` gets the job at each status event (the last one is the final state).
    A dropped stream is opened again, up to ``MAX_RECONNECTS`` times in a row.
    """
    seen, pages = _Seen(), _Pages(client, job_id, attempt)
    failures = 0
    while True:
        try:
            ended = yield from _one_stream(client, job_id, attempt, seen, pages, on_status)
        except httpx.TransportError as error:
            ended, reason = False, f"{type(error).__name__}: {error}"
        else:
            reason = "the stream ended before the job did"
        yield from (line for line in pages.read() if seen.first_time(line))
        if ended:
            return
        failures += 1
        if failures > MAX_RECONNECTS:
            raise ApiUnavailable(f"lost the events of job {job_id}: {reason}")
        sleep(min(0.5 * 2**failures, 5.0))


def _one_stream(
    client: ShoalClient,
    job_id: int,
    attempt: int | None,
    seen: _Seen,
    pages: _Pages,
    on_status: Callable[[dict[str, Any]], None] | None,
) -> Generator[Line, None, bool]:
    """Lines from one events stream; True once the job's final state came."""
    stream = client.events(job_id, read_timeout=READ_TIMEOUT_SECONDS, last_event_id=seen.event_id)
    with closing(cast(Generator[dict[str, Any], None, None], stream)) as events:
        subscribed = False
        for event in events:
            seen.event_id = event["id"] or seen.event_id
            data = event["data"]
            if event["event"] == "log" and isinstance(data, dict):
                for line in _event_lines(data, attempt):
                    if seen.first_time(line):
                        yield line
            elif isinstance(data, dict) and "status" in data:
                if on_status is not None:
                    on_status(data)
                if not subscribed:  # what was stored before the stream began
                    subscribed = True
                    yield from (line for line in pages.read() if seen.first_time(line))
                if data["status"] in TERMINAL:
                    return True
    return False


def _event_lines(data: dict[str, Any], attempt: int | None) -> Iterator[Line]:
    number = data.get("attempt")
    if attempt is not None and number != attempt:
        return
    for line in data.get("lines") or []:
        yield {"attempt": number, **line}
