"""``shoal webhooks``: subscribe a URL to the ends of jobs, batches and workflows, and see what
each delivery got back.

Needs credentials in the environment (``SHOAL_API_KEY``, or ``SHOAL_EMAIL`` +
``SHOAL_PASSWORD``) and ``SHOAL_API_URL``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from shoal_cli.common import echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup

EVENTS = ("job.ended", "batch.ended")  # the default; workflow.ended is asked for by name


@click.group()
def webhooks() -> None:
    """Webhooks: signed POSTs to your URL when jobs, batches and workflows end."""


@webhooks.command()
@click.argument("url")
@click.option(
    "--events",
    default=",".join(EVENTS),
    show_default=True,
    help="comma-separated: job.ended, batch.ended, workflow.ended, budget.warning",
)
@click.option("--failures-only", is_flag=True, help="only ends other than SUCCEEDED")
@click.option("--job", "job_id", type=int, help="only this job")
@click.option("--batch", "batch_id", type=int, help="only this batch (its jobs and its end)")
@click.option(
    "--workflow", "workflow_id", type=int, help="only this workflow (its jobs, batches and end)"
)
@click.option("--slack", is_flag=True, help="post Slack-compatible {text} bodies")
@click.option("--secret", help="sign with this secret (16+ characters) instead of a new one")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def create(
    url: str,
    events: str,
    failures_only: bool,
    job_id: int | None,
    batch_id: int | None,
    workflow_id: int | None,
    slack: bool,
    secret: str | None,
    as_json: bool,
) -> None:
    """Subscribe URL; prints the secret that signs every delivery (shown only now)."""
    body: dict[str, Any] = {
        "url": url,
        "events": [e.strip() for e in events.split(",") if e.strip()],
        "failuresOnly": failures_only,
        "format": "slack" if slack else "json",
    }
    given = (("jobId", job_id), ("batchId", batch_id), ("workflowId", workflow_id))
    for key, value in (*given, ("secret", secret)):
        if value is not None:
            body[key] = value
    with make_client() as client:
        created = client.create_webhook(body)
    if as_json:
        echo_json(created)
        return
    echo(f"webhook {created['id']} created: {created['url']} ({', '.join(created['events'])})")
    echo(f"secret: {created['secret']}  (shown only now: keep it to check Shoal-Signature)")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def list_webhooks(as_json: bool) -> None:
    """Your subscriptions (every one, for an admin)."""
    with make_client() as client:
        found = client.webhooks()
    if as_json:
        echo_json({"webhooks": found})
        return
    if not found:
        click.echo("no webhooks")
        return
    table = Table()
    for column in ("id", "url", "events", "only", "format", "created"):
        table.add_column(column, overflow="fold")
    for hook in found:
        table.add_row(
            str(hook["id"]),
            markup(hook["url"]),
            markup(", ".join(hook["events"])),
            markup(_scope(hook)),
            markup(hook["format"]),
            markup(hook["createdAt"]),
        )
    stdout_console().print(table)


def _scope(hook: dict[str, Any]) -> str:
    parts = ["failures"] if hook.get("failuresOnly") else []
    if hook.get("jobId") is not None:
        parts.append(f"job {hook['jobId']}")
    if hook.get("batchId") is not None:
        parts.append(f"batch {hook['batchId']}")
    if hook.get("workflowId") is not None:
        parts.append(f"workflow {hook['workflowId']}")
    return ", ".join(parts) or "-"


@webhooks.command()
@click.argument("webhook_id", type=int, metavar="ID")
@one_line_errors
def delete(webhook_id: int) -> None:
    """Unsubscribe ID; its deliveries not yet sent are dropped."""
    with make_client() as client:
        client.delete_webhook(webhook_id)
    echo(f"webhook {webhook_id} deleted")


@webhooks.command()
@click.argument("webhook_id", type=int, metavar="ID")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def deliveries(webhook_id: int, limit: int, as_json: bool) -> None:
    """ID's deliveries, newest first, with the answer of each try."""
    with make_client() as client:
        answer = client.webhook_deliveries(webhook_id, limit=limit)
    if as_json:
        echo_json(answer)
        return
    found = answer["deliveries"]
    if not found:
        click.echo("no deliveries yet")
        return
    table = Table()
    for column in ("id", "event", "of", "status", "state", "tries", "last answer"):
        table.add_column(column, overflow="fold")
    for delivery in found:
        table.add_row(
            str(delivery["id"]),
            markup(delivery["event"]),
            str(delivery["subjectId"]),
            markup(delivery["status"]),
            markup(delivery["state"]),
            str(delivery["attempts"]),
            markup(_last_answer(delivery["responses"])),
        )
    stdout_console().print(table)


def _last_answer(responses: list[dict[str, Any]]) -> str:
    if not responses:
        return "-"
    last = responses[-1]
    said = last["error"] or f"{last['statusCode']} {(last['response'] or '')[:60]}".strip()
    return f"{said} ({last['durationMs']} ms)"
