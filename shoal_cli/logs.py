"""``shoal jobs logs ID [-f]``: a job's own log lines, stored and live."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

from shared.client import follow_logs
from shoal_cli.common import Interrupted, make_client, one_line_errors
from shoal_cli.terminal import echo, printable


def format_line(line: dict[str, Any], style: str) -> str:
    """One line as text (time, attempt, level or stream, message; its control
    characters escaped) or as a JSON object (which escapes them itself)."""
    if style == "jsonl":
        return json.dumps(line, sort_keys=True)
    stream = line.get("stream")
    tag = line.get("level") if stream == "log" else stream
    head = printable(f"{line.get('time')} #{line.get('attempt')} {tag!s:<8}", newlines=False)
    return f"{head} {printable(line.get('message'))}"


def _print(lines: Iterable[dict[str, Any]], style: str) -> int:
    """Print the lines; how many there were."""
    count = 0
    for count, line in enumerate(lines, 1):  # noqa: B007 - the count is the answer
        click.echo(format_line(line, style))  # already printable, or JSON
    return count


@click.command("logs")
@click.argument("job_id", type=int, metavar="ID")
@click.option("-f", "--follow", is_flag=True, help="go on printing new lines until the job ends")
@click.option("--attempt", type=click.IntRange(min=1), help="only this attempt's lines")
@click.option(
    "--format",
    "style",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="text: time #attempt level|stream message; jsonl: one JSON object per line",
)
@one_line_errors
def logs(job_id: int, follow: bool, attempt: int | None, style: str) -> None:
    """Print what job ID's handler logged and printed, oldest first, every attempt.

    With -f, follow the job live until it ends (then its final status goes to stderr).
    """
    with make_client() as client:
        if not follow:
            stored = client.iter_job_logs(job_id, attempt=attempt)
            if not _print((line for line, _ in stored), style):
                echo(f"job {job_id}: no log lines yet", err=True)  # stdout stays the lines
            return
        final: dict[str, Any] = {}
        try:
            followed = follow_logs(client, job_id, attempt=attempt, on_status=final.update)
            printed = _print(followed, style)
        except KeyboardInterrupt:
            raise Interrupted(f"stopped following the log of job {job_id}") from None
    if not printed:
        echo(f"job {job_id}: no log lines", err=True)
    echo(f"job {job_id} {final.get('status')}", err=True)
