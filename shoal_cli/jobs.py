"""``shoal jobs``: the researcher's side — submit, follow live, download, inspect, cancel.

The API and credentials come from the environment: ``SHOAL_API_URL`` and either
``SHOAL_API_KEY`` or ``SHOAL_EMAIL`` + ``SHOAL_PASSWORD``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.filesize import decimal
from rich.table import Table

from shared.durations import human_duration
from shoal_cli.batches import read_inputs, watch_batch
from shoal_cli.common import (
    UsageError,
    echo_json,
    make_client,
    one_line_errors,
    stderr_console,
    stdout_console,
)
from shoal_cli.downloads import download_files
from shoal_cli.follow import watch
from shoal_cli.job_list import list_jobs
from shoal_cli.logs import format_line, logs
from shoal_cli.terminal import echo, markup

_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


@click.group()
def jobs() -> None:
    """Submit jobs, follow them live and download their results.

    Needs SHOAL_API_URL and SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD).
    """


jobs.add_command(logs)
jobs.add_command(list_jobs)


def parse_input(text: str) -> dict[str, Any]:
    """``--input``: a JSON object, ``@FILE`` to read one from a file, or ``@-`` from stdin."""
    source = "--input"
    if text.startswith("@"):
        name = text[1:]
        if name == "-":
            source, text = "stdin", sys.stdin.read()
        else:
            try:
                source, text = name, Path(name).read_text(encoding="utf-8")
            except OSError as error:
                raise UsageError(f"--input: cannot read {name}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), "null" if value is None else type(value).__name__)
        raise UsageError(f"{source} must be a JSON object, not {kind}")
    return value


@jobs.command()
@click.argument("job_type", metavar="TYPE")
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="the input payload: a JSON object, or @FILE (@- reads stdin)",
)
@click.option(
    "--inputs",
    "inputs_file",
    metavar="FILE",
    help="a sweep: one input per line of a JSON-lines FILE (- reads stdin), one batch",
)
@click.option(
    "--wait", is_flag=True, help="follow the job(s) until they end; exit 1 unless all succeed"
)
@click.option("--name", metavar="NAME", help="what to call the job (every job of a batch)")
@click.option(
    "--tag",
    "tags",
    metavar="K=V",
    multiple=True,
    callback=lambda _ctx, _param, value: parse_tags(value),
    help="a label to find the job(s) by (shoal jobs list --tag K=V); repeatable",
)
@click.option(
    "--priority", type=int, metavar="N", help="orders your own PENDING jobs, higher first"
)
@click.option("--no-cache", is_flag=True, help="run anew even if an identical job exists")
@click.option("--parsable", is_flag=True, help="print only the job id (or the batch id)")
@one_line_errors
def submit(
    job_type: str,
    input_text: str | None,
    inputs_file: str | None,
    wait: bool,
    parsable: bool,
    **options: Any,
) -> None:
    """Submit a job of TYPE (--input), or a batch of them (--inputs); prints the ids and
    whether existing jobs were reused."""
    if (input_text is None) == (inputs_file is None):
        raise UsageError("give either --input (one job) or --inputs (a batch)")
    fields = {
        "name": options["name"],
        "tags": options["tags"] or None,
        "priority": options["priority"],
        "noCache": options["no_cache"] or None,
    }
    if inputs_file is not None:
        _submit_batch(job_type, read_inputs(inputs_file), wait, parsable, fields)
        return
    payload = parse_input(input_text or "")
    with make_client() as client:
        answer = client.submit_job(job_type, payload, **fields)
        job_id = int(answer["jobId"])
        if parsable:
            click.echo(job_id)
        elif answer.get("cached"):
            click.echo(f"job {job_id} (cached: an existing {job_type} job has the same input)")
        else:
            click.echo(f"job {job_id} submitted")
        if not wait:
            return
        code = watch(client, job_id, stderr_console())
    raise SystemExit(code)


def parse_tags(given: tuple[str, ...]) -> dict[str, str]:
    """``--tag K=V``, repeatable, as ``{K: V}``."""
    tags: dict[str, str] = {}
    for text in given:
        key, equals, value = text.partition("=")
        if not key or not equals:
            raise click.BadParameter(f"{text!r} is not K=V", param_hint="--tag")
        tags[key] = value
    return tags


def _submit_batch(
    job_type: str,
    inputs: list[dict[str, Any]],
    wait: bool,
    parsable: bool,
    fields: dict[str, Any],
) -> None:
    with make_client() as client:
        answer = client.submit_batch(job_type, inputs, **fields)
        batch_id = int(answer["batchId"])
        reused = len(inputs) - int(answer["created"])
        click.echo(
            batch_id
            if parsable
            else f"batch {batch_id} submitted: {len(inputs)} inputs,"
            f" {answer['created']} new jobs, {reused} cached"
        )
        if not wait:
            return
        code = watch_batch(client, batch_id, stderr_console())
    raise SystemExit(code)


@jobs.command("watch")
@click.argument("job_id", type=int, metavar="ID")
@one_line_errors
def watch_job(job_id: int) -> None:
    """Follow job ID live until it ends; exit 0 if it succeeded, 1 otherwise."""
    with make_client() as client:
        code = watch(client, job_id, stderr_console())
    raise SystemExit(code)


@jobs.command()
@click.argument("job_id", type=int, metavar="ID")
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR", required=True
)
@click.option("--filter-prefix", metavar="P", help="only the files whose path starts with P")
@one_line_errors
def download(job_id: int, directory: Path, filter_prefix: str | None) -> None:
    """Download the result files of job ID into DIR (subdirectories are created)."""
    with make_client() as client:
        answer = client.download_urls(job_id, filter_prefix=filter_prefix)
    files: dict[str, str] = answer.get("files") or {}
    if not files:
        where = f" under {filter_prefix!r}" if filter_prefix else ""
        click.echo(f"job {job_id} has no files{where}")
        return
    directory.mkdir(parents=True, exist_ok=True)
    summary = download_files(files, directory, stderr_console())
    noun = "file" if summary.files == 1 else "files"
    click.echo(f"downloaded {summary.files} {noun} ({decimal(summary.size)}) to {directory}")


@jobs.command("get")
@click.argument("job_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def get_job(job_id: int, as_json: bool) -> None:
    """Show job ID: status, progress, timings, input and result."""
    with make_client() as client:
        job = client.get_job(job_id)
    if as_json:
        echo_json(job)
        return
    stdout_console().print(_job_table(job))


def _job_table(job: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    progress = f"{float(job.get('progress') or 0):.0%} {job.get('progress_message') or ''}"
    results = [a["result"] for a in job.get("assignments", []) if a.get("result")]
    tail = job.get("logTail")
    rows = [
        ("job", f"{job.get('id')} {job.get('type')}"),
        ("status", job.get("status")),
        ("progress", progress.strip()),
        ("attempts", f"{job.get('attempts')} of {job.get('max_attempts')}"),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
        ("run time", _run_time(job)),
        ("usage", _usage(job.get("usage"))),
        ("waiting", (job.get("pendingReason") or {}).get("message")),
        ("error", job.get("error_message")),
        # A failed job's last log lines, next to its error.
        ("log tail", "\n".join(format_line(line, "text") for line in tail) if tail else None),
        ("input", json.dumps(job.get("input_payload"), sort_keys=True)),
        ("result", json.dumps(results[-1].get("result_payload")) if results else None),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, markup(value))
    return table


def _run_time(job: dict[str, Any]) -> str:
    seconds = job.get("runSeconds")
    if not isinstance(seconds, int | float):
        return "not started yet"
    return human_duration(seconds) + ("" if job.get("finished_at") else " so far")


def _usage(used: dict[str, Any] | None) -> str | None:
    if not used or not used.get("attempts"):
        return None
    noun = "attempt" if used["attempts"] == 1 else "attempts"
    return (
        f"{used['vcpuSeconds']:.3f} vCPU-s, {used['gbSeconds']:.3f} GB-s over "
        f"{used['attempts']} {noun}: {used['cost']:.6f} {used['currency']}"
    )


@jobs.command()
@click.argument("job_id", type=int, metavar="ID")
@one_line_errors
def cancel(job_id: int) -> None:
    """Cancel job ID (a running job stops at its worker's next heartbeat)."""
    with make_client() as client:
        job = client.cancel_job(job_id)
    echo(f"job {job_id} {job.get('status')}")
