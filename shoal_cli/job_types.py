"""``shoal types``: the job types — list them, show one, apply a file of them, retire one.

Reading needs any role that uses jobs; ``apply`` and ``retire`` need an ADMIN's
credentials. A type file is checked here with the API's own rules before anything
is sent (``type_files.py``).
"""

from __future__ import annotations

from typing import Any

import click
import yaml
from rich.table import Table

from shared.client import ApiError, ShoalClient
from shoal_cli.common import echo_json, make_client, one_line_errors, stdout_console
from shoal_cli.terminal import echo, markup, printable
from shoal_cli.type_files import RefusedFile, TypeDocument, read_type_file


@click.group("types")
def job_types() -> None:
    """Job types: list, show, apply a type file (ADMIN), retire (ADMIN).

    Needs SHOAL_API_URL and SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD).
    """


@job_types.command("list")
@click.option("--retired", is_flag=True, help="list retired types too")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def list_types(retired: bool, as_json: bool) -> None:
    """Every job type you may submit to: built-in, entry-point and registered."""
    with make_client() as client:
        found = client.job_types(retired=retired)
    if as_json:
        echo_json({"jobTypes": found})
        return
    table = Table()
    for column in ("name", "source", "revision", "retired", "description"):
        table.add_column(column, overflow="fold")
    for doc in found:
        revision = doc.get("revision")
        table.add_row(
            markup(doc.get("name")),
            markup(doc.get("source")),
            "-" if revision is None else markup(revision),
            "retired" if doc.get("retired") else "",
            markup(doc.get("description") or ""),
        )
    stdout_console().print(table)


@job_types.command("show")
@click.argument("name", metavar="NAME")
@click.option("--revision", type=click.IntRange(min=1), metavar="N", help="an earlier revision")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@one_line_errors
def show(name: str, revision: int | None, as_json: bool) -> None:
    """The type's document as YAML: its input schema, example input, limits and how it
    runs (as read, it can be applied again)."""
    with make_client() as client:
        doc = (
            client.job_type(name) if revision is None else client.job_type_revision(name, revision)
        )
    if as_json:
        echo_json(doc)
        return
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    click.echo(printable(text), nl=False)


@job_types.command("apply")
@click.option(
    "-f",
    "--file",
    "file_name",
    required=True,
    metavar="FILE",
    help="YAML or JSON: one type, or a list under jobTypes: (- reads stdin)",
)
@one_line_errors
def apply(file_name: str) -> None:
    """Register or change the types of FILE (ADMIN); prints per type whether it was
    created, changed (a new revision) or unchanged. Nothing is sent unless every type
    in the file passes the checks."""
    try:
        documents = read_type_file(file_name)
    except RefusedFile as refused:
        for problem in refused.problems:
            click.echo(f"error: {printable(problem, newlines=False)}", err=True)
        raise SystemExit(1) from None
    with make_client() as client:
        for document in documents:
            echo(f"{document.name}: {_apply_one(client, document)}")


def _apply_one(client: ShoalClient, document: TypeDocument) -> str:
    """``created (revision 1)``, ``changed (revision N)`` or ``unchanged (revision N)``.

    The type is read first: a PUT retried after a lost answer is then still told
    apart from one that changed nothing.
    """
    try:
        before: int | None = client.job_type(document.name).get("revision")
    except ApiError as error:
        if error.status != 404:
            raise
        before = None
    after = client.put_job_type(document.name, document.body)
    revision = after.get("revision")
    if before is None:
        return f"created (revision {revision})"
    return f"{'unchanged' if revision == before else 'changed'} (revision {revision})"


@job_types.command("retire")
@click.argument("name", metavar="NAME")
@one_line_errors
def retire(name: str) -> None:
    """Retire type NAME (ADMIN): it takes no new jobs; its queued jobs still run. Applying
    it again brings it back."""
    with make_client() as client:
        doc: dict[str, Any] = client.retire_job_type(name)
    echo(f"{name}: retired (revision {doc.get('revision')}); jobs already queued still run")
