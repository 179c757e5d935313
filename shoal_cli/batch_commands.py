"""``shoal batches``: a sweep after its submission — list, re-attach, cancel, download,
and which inputs failed. Inputs are named by their index from 1, as ``--inputs`` counts
the lines of its file (blank lines aside)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.filesize import decimal
from rich.table import Table

from shoal_cli.batches import summary, watch_batch
from shoal_cli.common import echo_json, make_client, one_line_errors, stderr_console, stdout_console
from shoal_cli.downloads import download_files
from shoal_cli.terminal import echo, markup

PAGE = 100  # entries per request, the API's most


@click.group()
def batches() -> None:
    """Follow, cancel and download sweeps (batches of jobs submitted with --inputs).

    Needs SHOAL_API_URL and SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD).
    """


@batches.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--cursor", metavar="C", help="the next page (printed under a full page)")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def list_batches(limit: int, cursor: str | None, as_json: bool) -> None:
    """Your batches, newest first."""
    with make_client() as client:
        page = client.list_batches(limit=limit, cursor=cursor)
    if as_json:
        echo_json(page)
        return
    table = Table()
    for column in ("id", "name", "type", "inputs", "created"):
        table.add_column(column, overflow="fold")
    for batch in page["batches"]:
        table.add_row(
            markup(batch["id"]),
            markup(batch.get("name") or ""),
            markup(batch["type"]),
            markup(batch["size"]),
            markup(batch["created_at"]),
        )
    stdout_console().print(table)
    if page.get("nextCursor"):
        echo(f"more: shoal batches list --cursor {page['nextCursor']}", err=True)


@batches.command("watch")
@click.argument("batch_id", type=int, metavar="ID")
@one_line_errors
def watch(batch_id: int) -> None:
    """Follow batch ID to its end with one progress bar (re-attach after Ctrl-C on
    ``submit --wait``); exit 0 if every input's job succeeded, 1 otherwise."""
    with make_client() as client:
        code = watch_batch(client, batch_id, stderr_console())
    raise SystemExit(code)


@batches.command("cancel")
@click.argument("batch_id", type=int, metavar="ID")
@one_line_errors
def cancel(batch_id: int) -> None:
    """Cancel batch ID's jobs still PENDING or IN_PROGRESS; finished ones stay."""
    with make_client() as client:
        answer = client.cancel_batch(batch_id)
    echo(f"batch {batch_id}: cancelled {answer['cancelled']} jobs; now {summary(answer)}")


@batches.command("failed")
@click.argument("batch_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per failed input")
@one_line_errors
def failed(batch_id: int, as_json: bool) -> None:
    """Batch ID's inputs whose job FAILED or TIMED_OUT: input index, job id, error."""
    with make_client() as client:
        found = list(_pages(partial(client.batch_failed, batch_id, limit=PAGE), "failed"))
    if as_json:
        for entry in found:
            click.echo(json.dumps(entry, sort_keys=True))
        return
    if not found:
        echo(f"batch {batch_id}: no failed inputs")
        return
    table = Table()
    for column in ("input", "job", "status", "error"):
        table.add_column(column, overflow="fold")
    for entry in found:
        table.add_row(
            markup(entry["inputIndex"]),
            markup(entry["jobId"]),
            markup(entry["status"]),
            markup(entry.get("error") or ""),
        )
    stdout_console().print(table)


@batches.command("download")
@click.argument("batch_id", type=int, metavar="ID")
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR", required=True
)
@one_line_errors
def download(batch_id: int, directory: Path) -> None:
    """Download every input's result files into DIR/<input index>/ (inputs whose job did
    not succeed have none)."""
    files = size = inputs = without = 0
    console = stderr_console()
    with make_client() as client:
        for entry in _pages(partial(client.batch_files, batch_id, limit=PAGE), "jobs"):
            inputs += 1
            if not entry["files"]:
                without += 1
                continue
            target = directory / str(entry["inputIndex"])
            target.mkdir(parents=True, exist_ok=True)
            got = download_files(entry["files"], target, console)
            files, size = files + got.files, size + got.size
    noun = "file" if files == 1 else "files"
    echo(
        f"downloaded {files} {noun} ({decimal(size)}) of {inputs - without} inputs to"
        f" {directory}; {without} without files"
    )


def _pages(fetch: Callable[..., dict[str, Any]], key: str) -> Iterator[dict[str, Any]]:
    """Every entry under ``key`` of every page ``fetch(cursor=...)`` answers."""
    cursor: str | None = None
    while True:
        page = fetch(cursor=cursor)
        yield from page[key]
        cursor = page.get("nextCursor")
        if not cursor:
            return
