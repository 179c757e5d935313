"""The root ``shoal`` group.

Each component contributes its own commands through the ``shoal.commands``
entry-point group; a command's module is imported only when it is invoked, so
the worker image never imports Flask and the web API never imports boto3's ECS
code paths it does not use.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points

import click

from shared.lifetime import die_with_parent
from shoal_cli.accounts import api_keys, users
from shoal_cli.admin import admin
from shoal_cli.batch_commands import batches
from shoal_cli.job_types import job_types
from shoal_cli.jobs import jobs
from shoal_cli.resubmit import resubmit
from shoal_cli.usage import usage
from shoal_cli.webhooks import webhooks
from shoal_cli.workflows import workflows

GROUP = "shoal.commands"


class LazyGroup(click.Group):
    def _entries(self) -> dict[str, EntryPoint]:
        return {entry.name: entry for entry in entry_points(group=GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._entries()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._entries().get(cmd_name)
        if entry is None:
            return None
        try:
            loaded = entry.load()
        except ImportError as error:
            return _unavailable(cmd_name, entry, error)
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"{entry.value} is not a click command")
        return loaded


def _unavailable(name: str, entry: EntryPoint, error: ImportError) -> click.Command:
    """A stand-in that explains what to install instead of failing to import."""
    extra = entry.value.split(".")[0]
    reason = f"`shoal {name}` is not available here ({error.name or error} is not installed)"

    def fail() -> None:
        raise click.ClickException(f"{reason}; install it with: pip install 'shoal[{extra}]'")

    return click.Command(name, callback=fail, help=f"(not installed: pip install 'shoal[{extra}]')")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shoal")
def cli() -> None:
    """shoal: submit long computations, run them on autoscaled workers, fetch the results."""


# The client side needs only the base install, so these are always there.
cli.add_command(jobs)
jobs.add_command(resubmit)  # here: it reads --input as submit does (shoal_cli.jobs)
cli.add_command(admin)
cli.add_command(job_types)
cli.add_command(users)
cli.add_command(api_keys)
cli.add_command(batches)
cli.add_command(workflows)
cli.add_command(webhooks)
cli.add_command(usage)


def main() -> None:
    die_with_parent(os.environ)
    cli()
