"""``shoal jobs resubmit``: run a job again, with its input or an edited one."""

from __future__ import annotations

import click

from shoal_cli.common import make_client, one_line_errors, stderr_console
from shoal_cli.follow import watch
from shoal_cli.jobs import parse_input


@click.command()
@click.argument("job_id", type=int, metavar="ID")
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="the new job's input instead of ID's: a JSON object, or @FILE (@- reads stdin)",
)
@click.option("--no-cache", is_flag=True, help="always a new job: reuse no earlier result")
@click.option(
    "--wait", is_flag=True, help="follow the new job until it ends; exit 1 unless it succeeds"
)
@one_line_errors
def resubmit(job_id: int, input_text: str | None, no_cache: bool, wait: bool) -> None:
    """Run job ID again as a new job of yours: same type, same input (or --input)."""
    payload = None if input_text is None else parse_input(input_text)
    with make_client() as client:
        answer = client.resubmit_job(job_id, payload, no_cache=no_cache)
        new_id = int(answer["jobId"])
        if answer.get("cached"):
            click.echo(f"job {new_id} (cached: an identical job exists; --no-cache runs it anew)")
        else:
            click.echo(f"job {new_id} submitted (job {job_id} run again)")
        if not wait:
            return
        code = watch(client, new_id, stderr_console())
    raise SystemExit(code)
