"""``shoal usage``: what attempts used and cost, in the manner of Slurm's ``sreport``
(a table, CSV or JSON), the cost estimate of a sweep before it is submitted, and the
prices (``shoal usage prices``; admins set them).

Needs SHOAL_API_URL and SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD).
"""

from __future__ import annotations

import csv
import sys
from typing import Any

import click
from rich.table import Table

from shoal_cli.common import echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup

FIGURES = ("attempts", "runSeconds", "vcpuSeconds", "gbSeconds", "cost")
HEADERS = ("attempts", "run s", "vCPU-s", "GB-s", "cost (USD)")


@click.group(invoke_without_command=True)
@click.option(
    "--by",
    type=click.Choice(["user", "type", "batch", "day"]),
    default="user",
    show_default=True,
    help="group by",
)
@click.option("--from", "since", help="from (ISO 8601 date or time, UTC); this month's start")
@click.option("--to", "until", help="to, before (ISO 8601 date or time, UTC); now")
@click.option("--user", "user_id", type=int, help="only this user's (admins)")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
@one_line_errors
def usage(
    ctx: click.Context,
    by: str,
    since: str | None,
    until: str | None,
    user_id: int | None,
    output: str,
) -> None:
    """What the attempts that ended in a period used and cost, per user, type, batch or
    day: yours, or everyone's for an admin."""
    if ctx.invoked_subcommand is not None:
        return
    params: dict[str, Any] = {"by": by}
    for name, value in (("from", since), ("to", until), ("user", user_id)):
        if value is not None:
            params[name] = value
    with make_client() as client:
        report = client.request("GET", "/api/usage", params=params)
    if output == "json":
        echo_json(report)
    elif output == "csv":
        _csv(report)
    else:
        _table(report)


def _csv(report: dict[str, Any]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["key", "label", *FIGURES])
    for row in report["rows"]:
        writer.writerow([row["key"], row["label"], *(_figure(f, row[f]) for f in FIGURES)])
    writer.writerow(["total", "", *(_figure(f, report["total"][f]) for f in FIGURES)])


def _table(report: dict[str, Any]) -> None:
    echo(f"usage by {report['by']}, {report['from']} to {report['to']} ({report['currency']})")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column(report["by"])
    for header in HEADERS:
        table.add_column(header, justify="right")
    for row in report["rows"]:
        table.add_row(markup(row["label"]), *(_figure(f, row[f]) for f in FIGURES))
    table.add_row("total", *(_figure(f, report["total"][f]) for f in FIGURES), style="bold")
    stdout_console().print(table)


def _figure(name: str, value: Any) -> str:
    if name == "cost":
        return f"{value:.6f}"
    if name == "attempts":
        return str(value)
    return f"{value:.3f}"


@usage.command()
@click.argument("job_type", metavar="TYPE")
@click.option("--inputs", type=int, default=1, show_default=True, help="how many jobs")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def estimate(job_type: str, inputs: int, as_json: bool) -> None:
    """What INPUTS jobs of TYPE should cost: its recent median run time (or, with no
    history, its run-time limit) × inputs × its task size × the on-demand price."""
    with make_client() as client:
        found = client.request(
            "GET", "/api/usage/estimate", params={"jobType": job_type, "inputs": inputs}
        )
    if as_json:
        echo_json(found)
        return
    basis = (
        f"median of its last {found['sampleSize']} succeeded attempts"
        if found["basis"] == "recent"
        else "its run-time limit (no history yet): an upper bound"
    )
    echo(
        f"{found['inputs']} × {found['jobType']} at {found['vcpu']:g} vCPU / "
        f"{found['memoryGb']:g} GB, {found['runSeconds']:.3f} s each ({basis}): "
        f"{found['vcpuSeconds']:.3f} vCPU-s, {found['cost']:.6f} {found['currency']}"
    )


@usage.command()
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def prices(as_json: bool) -> None:
    """The price of a vCPU-hour and a GB-hour per region and capacity (* applies)."""
    with make_client() as client:
        found = client.request("GET", "/api/usage/prices")
    if as_json:
        echo_json(found)
        return
    table = Table(show_edge=False, pad_edge=False)
    for header in ("region", "capacity", "vCPU-hour", "GB-hour", "set"):
        table.add_column(header)
    for price in found["prices"]:
        mark = "*" if price["region"] == found["region"] else " "
        table.add_row(
            f"{mark}{price['region']}",
            price["capacity"],
            f"{price['vcpuHour']:.8f}",
            f"{price['gbHour']:.8f}",
            "shipped" if price["updatedBy"] is None else markup(price["updatedAt"]),
        )
    stdout_console().print(table)


@usage.command("set-price")
@click.argument("region")
@click.argument("capacity", type=click.Choice(["on_demand", "spot", "local"]))
@click.option("--vcpu-hour", required=True, help="USD per vCPU-hour")
@click.option("--gb-hour", required=True, help="USD per GB-hour")
@one_line_errors
def set_price(region: str, capacity: str, vcpu_hour: str, gb_hour: str) -> None:
    """Set REGION's price of CAPACITY (admins; audited). Cost is priced when read, so
    the new price applies to past usage too."""
    body = {"vcpuHour": vcpu_hour, "gbHour": gb_hour}
    with make_client() as client:
        found = client.request("PUT", f"/api/usage/prices/{region}/{capacity}", json=body)
    echo(
        f"{found['region']} {found['capacity']}: {found['vcpuHour']:.8f} per vCPU-hour, "
        f"{found['gbHour']:.8f} per GB-hour"
    )
