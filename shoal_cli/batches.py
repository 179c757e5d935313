"""Sweeps on the command line: inputs read from a JSON-lines file, and one batch
followed to its end with one progress bar (its status read every second)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    TaskProgressColumn,
    TextColumn,
)

from shared.client import ShoalClient
from shared.enums import JobStatus
from shoal_cli.common import Interrupted, UsageError
from shoal_cli.follow import STEPS, BarDisplay, LineDisplay
from shoal_cli.terminal import echo, markup

Status = dict[str, Any]
POLL_SECONDS = 1.0
_ORDER = [status.value for status in JobStatus]


def read_inputs(name: str) -> list[dict[str, Any]]:
    """``--inputs``: one JSON object per line of a file (``-``: stdin); blank lines skipped."""
    source = "stdin" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--inputs: cannot read {name}: {error.strerror}") from None
    inputs: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            raise UsageError(f"{source} line {number} is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise UsageError(f"{source} line {number} must be a JSON object")
        inputs.append(value)
    if not inputs:
        raise UsageError(f"{source} has no inputs")
    return inputs


def summary(status: Status) -> str:
    """``3 SUCCEEDED, 1 FAILED``: the non-zero counts, in the statuses' order."""
    counts = status.get("counts") or {}
    parts = [f"{counts[name]} {name}" for name in _ORDER if counts.get(name)]
    if status.get("deleted"):
        parts.append(f"{status['deleted']} deleted")
    return ", ".join(parts)


def _done(status: Status) -> bool:
    return float(status.get("finished") or 0) >= 1


class LiveBatchDisplay(BarDisplay):
    """One rich progress bar for the whole batch: mean progress, inputs finished, counts."""

    def __init__(self, console: Console) -> None:
        super().__init__(
            console,
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[finished]}"),
            TextColumn("{task.fields[counts]}"),
        )

    def update(self, status: Status) -> None:
        batch = status["batch"]
        done = round(float(status["finished"]) * batch["size"])
        self.show(
            f"batch {batch['id']} {markup(batch['type'])}",
            round(float(status["progress"]) * STEPS),
            finished=f"{done}/{batch['size']} finished",
            counts=markup(summary(status)),
        )


class PlainBatchDisplay(LineDisplay):
    """One line per change of the batch on stderr."""

    def update(self, status: Status) -> None:
        batch_id = status["batch"]["id"]
        self.show(f"batch {batch_id} {float(status['progress']):.0%} {summary(status)}")


def follow_batch(
    client: ShoalClient,
    batch_id: int,
    on_status: Callable[[Status], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Status:
    """Hand the batch's status to ``on_status`` until every input's job has ended."""
    while True:
        status = client.batch_status(batch_id)
        on_status(status)
        if _done(status):
            return status
        sleep(POLL_SECONDS)


def watch_batch(client: ShoalClient, batch_id: int, console: Console) -> int:
    """Show the batch live until it ends, print its outcome; 0 if every job SUCCEEDED."""
    display = LiveBatchDisplay(console) if console.is_terminal else PlainBatchDisplay()
    try:
        with display:
            status = follow_batch(client, batch_id, display.update)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped following batch {batch_id}; its jobs go on") from None
    echo(f"batch {batch_id}: {summary(status)}")
    succeeded = (status.get("counts") or {}).get(JobStatus.SUCCEEDED.value, 0)
    return 0 if succeeded == status["batch"]["size"] else 1
