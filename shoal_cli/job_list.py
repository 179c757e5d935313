"""``shoal jobs list``: your jobs (and those reused for you), or an admin's view of a
user's or everyone's, filtered, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from shoal_cli.common import UsageError, echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup, printable

STATUSES = ("PENDING", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")
SORTS = ("submitted", "status", "type", "name", "runtime")


@click.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="repeatable")
@click.option("--type", metavar="TYPE")
@click.option("--batch", type=int, metavar="ID", help="the jobs of batch ID")
@click.option("--name", metavar="PREFIX", help="names that start with PREFIX")
@click.option("--tag", "tags", metavar="K=V", multiple=True, help="repeatable: all of them")
@click.option("--since", metavar="TIME", help="submitted at or after (ISO 8601, UTC if no zone)")
@click.option("--until", metavar="TIME", help="submitted before")
@click.option("--user", type=int, metavar="USER_ID", help="this user's own jobs (admins)")
@click.option("--all-users", is_flag=True, help="every user's jobs (admins)")
@click.option("--sort", type=click.Choice(SORTS), default="submitted", show_default=True)
@click.option("--asc", is_flag=True, help="ascending (default: descending)")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--cursor", metavar="C", help="the next page (printed after a full page)")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@click.option("--parsable", is_flag=True, help="one tab-separated line per job, no header")
@one_line_errors
def list_jobs(
    statuses: tuple[str, ...],
    tags: tuple[str, ...],
    user: int | None,
    all_users: bool,
    asc: bool,
    as_json: bool,
    parsable: bool,
    **options: Any,
) -> None:
    """List jobs, newest first: yours and those the result cache reused for you (marked
    *), one user's (--user) or everyone's (--all-users). Columns: id, name, type, status,
    submitted, runtime, progress."""
    if user is not None and all_users:
        raise UsageError("give --user or --all-users, not both")
    query = {
        **options,
        "status": list(statuses),
        "tag": list(tags),
        "userId": user,
        "allUsers": "true" if all_users else None,
        "order": "asc" if asc else "desc",
    }
    given = {name: value for name, value in query.items() if value not in (None, [])}
    with make_client() as client:
        page = client.list_jobs(mine=user is None, **given)
    if as_json:
        echo_json(page)
        return
    jobs: list[dict[str, Any]] = page["jobs"]
    now = datetime.now(UTC)
    if parsable:
        for job in jobs:
            click.echo("\t".join(printable(cell, newlines=False) for cell in _cells(job, now)))
    else:
        stdout_console().print(_table(jobs, now, with_user=user is not None or all_users))
        more = "+" if page.get("totalCapped") else ""
        echo(f"{len(jobs)} of {page['total']}{more} jobs", err=True)
    if page.get("nextCursor"):
        echo(f"next page: --cursor {page['nextCursor']}", err=True)


def _cells(job: dict[str, Any], now: datetime) -> list[str]:
    return [
        f"{job['id']}{'*' if job.get('reused') else ''}",
        job.get("name") or "",
        job["type"],
        job["status"],
        job["created_at"],
        _runtime(job, now),
        f"{float(job.get('progress') or 0):.0%}",
    ]


def _table(jobs: list[dict[str, Any]], now: datetime, *, with_user: bool) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "name", "type", "status", "submitted", "runtime", "progress"):
        table.add_column(column, justify="right" if column in ("id", "progress") else "left")
    if with_user:
        table.add_column("user", justify="right")
    for job in jobs:
        cells = _cells(job, now)
        cells[4] = cells[4].replace("T", " ")[:19]
        table.add_row(*(markup(cell) for cell in cells), *([str(job["user_id"])] * with_user))
    return table


def _runtime(job: dict[str, Any], now: datetime) -> str:
    """How long it ran (so far, while it runs), as ``1h02m03s``; empty before it started."""
    if not job.get("started_at"):
        return ""
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else now
    seconds = max(0, round((finished - started).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
