"""``shoal budgets``: monthly limits on what users' submissions commit (ADMIN: show,
set, clear a user's or the default), and ``shoal budgets me``: your own month.

Needs credentials in the environment (``SHOAL_API_KEY``, or ``SHOAL_EMAIL`` +
``SHOAL_PASSWORD``) and ``SHOAL_API_URL``.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from shared.client import ShoalClient
from shared.client.errors import ApiError
from shoal_cli.accounts import find_user
from shoal_cli.common import UsageError, echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup


@click.group()
def budgets() -> None:
    """Budgets: a monthly limit in USD and/or vCPU-hours per user, or the default for all;
    past it, submissions get 429."""


@budgets.command("me")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def me(as_json: bool) -> None:
    """Your month: your budget's limits, what is spent and what is committed."""
    with make_client() as client:
        found = client.request("GET", "/api/budgets/me")
    if as_json:
        echo_json(found)
        return
    echo(standing_text(found))


@budgets.command("show")
@click.argument("who", metavar="USER", required=False)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def show(who: str | None, as_json: bool) -> None:
    """A user's budget and their month (ADMIN); without USER, every budget set."""
    with make_client() as client:
        if who is None:
            found = client.request("GET", "/api/budgets")
        elif who == "default":
            found = client.request("GET", "/api/budgets/default")
        else:
            user_id = _user_id(client, who)
            found = {
                **client.request("GET", f"/api/budgets/users/{user_id}"),
                "standing": client.request("GET", f"/api/budgets/users/{user_id}/standing"),
            }
    if as_json:
        echo_json(found)
        return
    if "budgets" in found:
        _table(found["budgets"])
        return
    _table([] if found["budget"] is None else [found["budget"]])
    if "standing" in found:
        echo(standing_text(found["standing"]))


@budgets.command("set")
@click.argument("who", metavar="USER")
@click.option("--cost", type=float, metavar="USD", help="the monthly limit in USD")
@click.option("--vcpu-hours", type=float, metavar="H", help="the monthly limit in vCPU-hours")
@click.option(
    "--warn-at", type=float, metavar="F", help="the share of a limit that warns (default 0.8)"
)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def set_budget(
    who: str, cost: float | None, vcpu_hours: float | None, warn_at: float | None, as_json: bool
) -> None:
    """Set USER's budget, or the default's (ADMIN): --cost and/or --vcpu-hours (each
    replaces the one before; one left out is no limit in that unit)."""
    body: dict[str, Any] = {"cost": cost, "vcpuHours": vcpu_hours}
    if warn_at is not None:
        body["warnAt"] = warn_at
    with make_client() as client:
        changed = client.request("PUT", _path(client, who), json=body)["budget"]
    if as_json:
        echo_json(changed)
        return
    echo(f"budget of {_scope(changed)} set: {_limits(changed)}, warning at {changed['warnAt']}")


@budgets.command("clear")
@click.argument("who", metavar="USER")
@one_line_errors
def clear(who: str) -> None:
    """Remove USER's budget (the default applies to them again), or the default (ADMIN)."""
    with make_client() as client:
        cleared = client.request("DELETE", _path(client, who))["budget"]
    echo(f"budget of {_scope(cleared)} cleared (it was {_limits(cleared)})")


def confirm_estimate(client: ShoalClient, job_type: str, inputs: int, *, yes: bool) -> None:
    """Before a sweep: its estimate (``GET /api/usage/estimate``), and a confirmation at a
    terminal unless ``yes`` (elsewhere, no question and nothing said: scripts read stderr). A sweep
    whose estimate would take the caller past their budget is refused here, as the API
    would refuse it, and nothing is submitted."""
    try:
        params = {"jobType": job_type, "inputs": inputs}
        estimate = client.request("GET", "/api/usage/estimate", params=params)
    except ApiError as error:
        if error.status == 404:  # an API without estimates: nothing to show
            return
        raise
    line = estimate_text(estimate)
    refusal = crossing(client.request("GET", "/api/budgets/me"), estimate)
    if refusal is not None:
        echo(line, err=True)
        raise UsageError(refusal)
    if yes or not sys.stdin.isatty():
        return
    click.confirm(f"{line}\nsubmit it?", default=True, abort=True, err=True)


def estimate_text(estimate: dict[str, Any]) -> str:
    basis = (
        f"the median of its last {estimate['sampleSize']} runs"
        if estimate["basis"] == "recent"
        else "its run-time limit (no runs yet): an upper bound"
    )
    return (
        f"estimate: {estimate['inputs']} {estimate['jobType']} jobs, about"
        f" {_money(estimate['cost'])} and {estimate['vcpuSeconds'] / 3600:.3f} vCPU-hours"
        f" ({estimate['runSeconds']:g} s each, from {basis}; inputs the cache answers cost"
        " nothing)"
    )


def crossing(standing: dict[str, Any], estimate: dict[str, Any]) -> str | None:
    """Why a sweep of this estimate would be refused by the caller's budget; None: it fits."""
    adding = {"cost": estimate["cost"], "vcpuHours": estimate["vcpuSeconds"] / 3600}
    for name, limit in standing["limit"].items():
        if limit is None:
            continue
        committed = standing["committed"][name]
        if committed >= limit or committed + adding[name] > limit:
            unit = _money if name == "cost" else _hours
            return (
                f"Over budget: this sweep's estimate of {unit(adding[name])} would take your"
                f" {standing['period']} budget ({name}) to {unit(committed + adding[name])},"
                f" past its {unit(limit)} ({unit(standing['spent'][name])} spent,"
                f" {unit(committed)} committed with your unfinished jobs); nothing was"
                " submitted. An admin can raise the limit."
            )
    return None


def _hours(amount: float) -> str:
    return f"{amount:.3f} vCPU-hours"


def standing_text(found: dict[str, Any]) -> str:
    """A month in a few lines: limits, spent, committed and the state."""
    limit = found["limit"]
    if limit["cost"] is None and limit["vcpuHours"] is None:
        head = f"{found['period']}: no budget"
    else:
        source = "the default budget" if found.get("source") == "default" else "your budget"
        head = f"{found['period']}: {source} {_limits(found)} ({found['state']})"
    spent, committed = found["spent"], found["committed"]
    return (
        f"{head}\n  spent     {_money(spent['cost'])}  {spent['vcpuHours']:.3f} vCPU-hours"
        f"\n  committed {_money(committed['cost'])}  {committed['vcpuHours']:.3f} vCPU-hours"
        " (with your unfinished jobs)"
    )


def _table(found: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("user", "cost (USD)", "vCPU-hours", "warn at", "updated"):
        table.add_column(column, overflow="fold")
    for budget in found:
        limit = budget["limit"]
        table.add_row(
            markup(_scope(budget)),
            markup("-" if limit["cost"] is None else limit["cost"]),
            markup("-" if limit["vcpuHours"] is None else limit["vcpuHours"]),
            markup(budget["warnAt"]),
            markup(budget["updatedAt"]),
        )
    stdout_console().print(table)


def _limits(budget: dict[str, Any]) -> str:
    limit = budget["limit"]
    parts = [
        *([] if limit["cost"] is None else [f"{_money(limit['cost'])} a month"]),
        *([] if limit["vcpuHours"] is None else [f"{limit['vcpuHours']:g} vCPU-hours a month"]),
    ]
    return " and ".join(parts)


def _money(amount: float) -> str:
    return f"{amount:.2f} USD" if amount >= 1 else f"{amount:.6f} USD"


def _scope(budget: dict[str, Any]) -> str:
    return "default" if budget["userId"] is None else f"user {budget['userId']}"


def _path(client: ShoalClient, who: str) -> str:
    if who == "default":
        return "/api/budgets/default"
    return f"/api/budgets/users/{_user_id(client, who)}"


def _user_id(client: ShoalClient, who: str) -> int:
    """USER as an id: a number is one (the API names it if there is none); an email is
    looked up."""
    return int(who) if who.isdigit() else int(find_user(client, who)["id"])
