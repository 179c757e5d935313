"""``shoal admin``: the admin's side of compute — status, scale, redeploy, workers.

Needs an ADMIN's credentials in the environment (``SHOAL_API_KEY``, or
``SHOAL_EMAIL`` + ``SHOAL_PASSWORD``) and ``SHOAL_API_URL``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Group
from rich.table import Table
from rich.text import Text

from shoal_cli.common import echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup


@click.group()
def admin() -> None:
    """Compute administration (ADMIN): status, scale, redeploy, workers."""


@admin.command()
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def status(as_json: bool) -> None:
    """The workers' service: counts, deployments and recent events."""
    with make_client() as client:
        answer = client.admin_status()
        cap = client.admin_workers().get("maxWorkers")
    if as_json:
        echo_json(answer)
        return
    stdout_console().print(status_view(answer, cap))


def status_view(answer: dict[str, Any], cap: int | None = None) -> Group:
    """The status as a headline, a deployments table and the recent events.

    ``cap``: the local backend's most workers, which its ``desiredCount`` repeats; the
    manager starts workers as jobs wait, so it is no target.
    """
    service = str(answer.get("serviceStatus"))
    counts = (
        [
            f"   running {answer.get('runningCount')} of at most {cap} (the cap)",
            f"   starting {answer.get('pendingCount')}",
        ]
        if cap is not None
        else [
            f"   desired {answer.get('desiredCount')}",
            f"   running {answer.get('runningCount')}",
            f"   pending {answer.get('pendingCount')}",
        ]
    )
    headline = Text.assemble(
        ("service ", "bold"), (service, "green" if service == "ACTIVE" else "yellow"), *counts
    )
    events = Table(title="recent events", title_justify="left")
    events.add_column("time")
    events.add_column("message")
    for event in answer.get("events") or []:
        events.add_row(markup(event.get("createdAt")), markup(event.get("message")))
    return Group(
        headline,
        _deployments(answer.get("deployments") or [], capped=cap is not None),
        events if answer.get("events") else Text("no recent events"),
    )


_DEPLOYMENT_COLUMNS = {
    "status": "status",
    "task definition": "taskDefinition",
    "desired": "desiredCount",
    "running": "runningCount",
    "pending": "pendingCount",
    "failed": "failedTasks",
    "rollout": "rolloutState",
}


def _deployments(rows: list[dict[str, Any]], *, capped: bool) -> Table:
    """One row per deployment; the rollout's reason, often a sentence, goes in the caption."""
    table = Table(title="deployments", title_justify="left", caption_justify="left")
    for column in _DEPLOYMENT_COLUMNS:
        table.add_column("cap" if capped and column == "desired" else column, overflow="fold")
    for row in rows:
        table.add_row(*(markup(row.get(key, "")) for key in _DEPLOYMENT_COLUMNS.values()))
    reasons = [
        f"{row.get('status')}: {row['rolloutStateReason']}"
        for row in rows
        if row.get("rolloutStateReason")
    ]
    if reasons:
        table.caption = markup("\n".join(reasons))
    return table


@admin.command()
@click.argument("desired_count", type=int, metavar="N")
@one_line_errors
def scale(desired_count: int) -> None:
    """Set how many workers may run at once (0 pauses work)."""
    with make_client() as client:
        answer = client.admin_scale(desired_count)
    echo(answer.get("message") or f"desiredCount set to {desired_count}")


@admin.command()
@one_line_errors
def redeploy() -> None:
    """Roll the workers over to a new deployment (running jobs finish first)."""
    with make_client() as client:
        answer = client.admin_redeploy()
    echo(answer.get("message") or "redeploy started")


@admin.command()
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def workers(as_json: bool) -> None:
    """The workers the manager tracks."""
    with make_client() as client:
        answer = client.admin_workers()
    if as_json:
        echo_json(answer)
        return
    found = answer.get("workers") or []
    if not found:
        click.echo("no workers")
        return
    table = Table()
    for column in ("task", "job types", "status", "started"):
        table.add_column(column)
    for worker in found:
        table.add_row(
            markup(worker.get("taskArn")),
            markup(", ".join(worker.get("jobTypes") or [])),
            markup(worker.get("status")),
            markup(worker.get("startedAt")),
        )
    stdout_console().print(table)
