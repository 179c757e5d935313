"""``shoal workflows``: submit a workflow from a YAML file (and follow it to its end),
read one back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.table import Table

from shared.client import ShoalClient
from shoal_cli.common import UsageError, echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup

POLL_SECONDS = 1.0
LIVE = frozenset({"WAITING", "PENDING", "IN_PROGRESS"})


@click.group("workflows")
def workflows() -> None:
    """Workflows: jobs and sweeps that wait for each other, submitted as one.

    Needs SHOAL_API_URL and SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD).
    """


@workflows.command("submit")
@click.argument("file_name", metavar="FILE")
@click.option(
    "--wait", is_flag=True, help="follow it until every step ended (exit 0: all succeeded)"
)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def submit(file_name: str, wait: bool, as_json: bool) -> None:
    """Submit the workflow in FILE (YAML: name, steps), all of it or nothing."""
    document = read_workflow(file_name)
    with make_client() as client:
        flow = client.request("POST", "/api/workflows", json=document)["workflow"]
        if as_json and not wait:
            echo_json({"workflow": flow})
            return
        echo(f"workflow {flow['id']} submitted: {_steps_line(flow)}", err=True)
        if wait:
            flow = follow(client, flow)
    if as_json:
        echo_json({"workflow": flow})
    elif wait:
        _print(flow)
    if wait and flow["status"] != "SUCCEEDED":
        raise SystemExit(1)


@workflows.command("get")
@click.argument("workflow_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def get(workflow_id: int, as_json: bool) -> None:
    """The workflow: each step's job or batch and status, and its own status."""
    with make_client() as client:
        flow = client.request("GET", f"/api/workflows/{workflow_id}")["workflow"]
    if as_json:
        echo_json({"workflow": flow})
    else:
        _print(flow)


def read_workflow(file_name: str) -> dict[str, Any]:
    """The YAML document of FILE, a mapping (the API checks the rest)."""
    try:
        document = yaml.safe_load(Path(file_name).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {file_name}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{file_name} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{file_name} must be a mapping with name and steps")
    return document


def follow(client: ShoalClient, flow: dict[str, Any]) -> dict[str, Any]:
    """Read the workflow every second until no step is live; each change on stderr."""
    shown = _steps_line(flow)
    while flow["status"] in LIVE:
        time.sleep(POLL_SECONDS)
        flow = client.request("GET", f"/api/workflows/{flow['id']}")["workflow"]
        line = _steps_line(flow)
        if line != shown:
            echo(f"workflow {flow['id']}: {line}", err=True)
            shown = line
    return flow


def _steps_line(flow: dict[str, Any]) -> str:
    return ", ".join(f"{s['name']} {s['status'] or 'deleted'}" for s in flow["steps"])


def _print(flow: dict[str, Any]) -> None:
    stdout_console().print(f"workflow {flow['id']} {markup(flow['name'])}: {flow['status']}")
    table = Table()
    for column in ("step", "type", "job", "batch", "status", "after"):
        table.add_column(column, overflow="fold")
    for step in flow["steps"]:
        counts = step.get("counts") or {}
        status = step["status"] or "deleted"
        if counts:
            status += " (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"
        table.add_row(
            markup(step["name"]),
            markup(step["type"]),
            str(step["jobId"] or ""),
            str(step["batchId"] or ""),
            status,
            ", ".join(f"{p} {c}" for p, c in step["after"].items()),
        )
    stdout_console().print(table)
