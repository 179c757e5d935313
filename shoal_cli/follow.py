"""Following one job live through its events stream: a rich progress bar on a terminal,
one plain line per event anywhere else (logs, pipes, CI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from typing import Any, Self, cast

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

from shared.client import ApiError, ApiUnavailable, ShoalClient
from shared.enums import JobStatus
from shoal_cli.common import Interrupted
from shoal_cli.logs import format_line
from shoal_cli.terminal import echo, markup, printable

Job = dict[str, Any]
TERMINAL = frozenset(status.value for status in JobStatus if status.terminal)
# The server sends a keep-alive every 15 s by default; this much silence means a dead link.
READ_TIMEOUT_SECONDS = 90.0
MAX_RECONNECTS = 5
HEALTHY_STREAM_SECONDS = 30.0
# Progress is a fraction; the bar counts in thousandths.
STEPS = 1000
_STYLES = {
    "WAITING": "blue",
    "PENDING": "yellow",
    "IN_PROGRESS": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "TIMED_OUT": "red",
}


def follow_job(
    client: ShoalClient,
    job_id: int,
    on_event: Callable[[str, Job], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    """Hand each event's job to ``on_event`` until the job ends; returns the final job.

    A dropped stream is opened again, with the last event's id (``Last-Event-ID``):
    the server starts every stream with the job's current state, so nothing is missed.
    A stream that stayed up for a while counts as healthy (proxies cut long streams);
    after ``MAX_RECONNECTS`` short-lived ones in a row it gives up with ApiUnavailable.
    """
    failures, last_id = 0, None
    while True:
        opened = time.monotonic()
        try:
            stream = client.events(job_id, read_timeout=READ_TIMEOUT_SECONDS, last_event_id=last_id)
            with closing(cast(Generator[Job, None, None], stream)) as events:
                for event in events:
                    last_id = event["id"] or last_id
                    job = event["data"]
                    if isinstance(job, dict) and event["event"] != "log":
                        on_event(event["event"], job)
                        if job.get("status") in TERMINAL:
                            return job
            reason = "the stream ended before the job did"
        except httpx.TransportError as error:
            reason = f"{type(error).__name__}: {error}"
        if time.monotonic() - opened >= HEALTHY_STREAM_SECONDS:
            failures = 0
        failures += 1
        if failures > MAX_RECONNECTS:
            raise ApiUnavailable(f"lost the events of job {job_id}: {reason}")
        sleep(min(0.5 * 2**failures, 5.0))


def _fraction(job: Job) -> float:
    value = job.get("progress")
    return min(max(float(value), 0.0), 1.0) if isinstance(value, int | float) else 0.0


class BarDisplay:
    """One rich progress bar (``STEPS`` steps) with these columns, while the block runs."""

    def __init__(self, console: Console, *columns: ProgressColumn, expand: bool = False) -> None:
        """``expand``: the line takes the terminal's whole width (columns with a ratio
        share what the others leave)."""
        self.progress = Progress(*columns, TimeElapsedColumn(), console=console, expand=expand)
        self.task: TaskID | None = None

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, label: str, completed: int, **fields: Any) -> TaskID:
        """Draw the bar at ``completed`` steps with these fields (the first call adds it)."""
        if self.task is None:
            self.task = self.progress.add_task(label, total=STEPS, completed=completed, **fields)
        else:
            self.progress.update(self.task, completed=completed, **fields)
        return self.task


class LineDisplay:
    """One line per change on stderr, for output that is not a terminal."""

    def __init__(self) -> None:
        self.last = ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, line: str) -> None:
        if line != self.last:
            echo(line, err=True)
            self.last = line


class LiveDisplay(BarDisplay):
    """A rich progress bar with the status and the worker's progress message."""

    def __init__(self, console: Console) -> None:
        super().__init__(
            console,
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[status]}"),
            # The bar and the message share the width the rest leaves: a long message is
            # cut (with …) rather than squeezing the bar out.
            BarColumn(bar_width=None, table_column=Column(ratio=2, min_width=10)),
            TaskProgressColumn(),
            TextColumn(
                "{task.fields[message]}",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            expand=True,
        )

    def update(self, kind: str, job: Job) -> None:
        status = str(job.get("status"))
        shown = f"[{_STYLES.get(status, 'white')}]{markup(status)}[/]"
        message = markup(printable(job.get("progress_message") or "", newlines=False))
        fraction = 1.0 if status == JobStatus.SUCCEEDED else _fraction(job)
        label = f"job {job.get('id')} {markup(job.get('type', ''))}"
        task = self.show(label, round(fraction * STEPS), status=shown, message=message)
        if status in TERMINAL:
            self.progress.stop_task(task)


class PlainDisplay(LineDisplay):
    """One line per change of the job on stderr."""

    def update(self, kind: str, job: Job) -> None:
        line = f"job {job.get('id')} {job.get('status')} {_fraction(job):.0%}"
        if job.get("progress_message"):
            line += f" {job['progress_message']}"
        self.show(printable(line, newlines=False))


def watch(client: ShoalClient, job_id: int, console: Console) -> int:
    """Show the job live until it ends, print its outcome; 0 if it SUCCEEDED, else 1."""
    display = LiveDisplay(console) if console.is_terminal else PlainDisplay()
    try:
        with display:
            job = follow_job(client, job_id, display.update)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped following job {job_id}; it goes on (shoal jobs watch {job_id})"
        ) from None
    status = job.get("status")
    line = f"job {job_id} {status}"
    if job.get("error_message"):
        line += f": {' '.join(str(job['error_message']).split())}"
        show_log_tail(client, job_id)
    echo(line)
    return 0 if status == JobStatus.SUCCEEDED else 1


def show_log_tail(client: ShoalClient, job_id: int) -> None:
    """A failed job's last log lines, on stderr, just above its outcome."""
    try:
        tail = client.get_job(job_id).get("logTail") or []
    except (ApiError, ApiUnavailable):
        return  # the outcome matters more than its context
    if tail:
        echo(f"last log lines of job {job_id}:", err=True)
        for entry in tail:
            echo(f"  {format_line(entry, 'text')}", err=True)
