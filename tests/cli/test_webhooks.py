"""``shoal webhooks`` against the real web API: create (the secret printed once), list,
deliveries with the receiver's answers, delete; bad input named; the README's lines
as written."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from shared.enums import JobStatus
from tests.cli.conftest import Shoal
from tests.support.queue import claimant
from tests.support.webhook_receiver import Receiver
from tests.webapi.jobs.conftest import Caller
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services
from webapi.store import workflows
from webapi.store.workflows import Workflows

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.fixture(autouse=True)
def _local_webhooks(web_env: dict[str, str]) -> None:
    web_env.update(
        SHOAL_WEBHOOK_ALLOW_PRIVATE="1",
        SHOAL_WEBHOOK_ALLOW_HTTP="1",
        SHOAL_WEBHOOK_POLL_SECONDS="0.05",
    )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    with found.serving() as port:
        yield found, port


def test_create_list_deliveries_delete(
    app: Flask,
    services: Services,
    analyst: Caller,
    shoal_as_analyst: Shoal,
    receiver: tuple[Receiver, int],
) -> None:
    got, port = receiver
    created = shoal_as_analyst(
        "webhooks", "create", f"http://127.0.0.1:{port}/", "--events", "job.ended"
    )
    assert created.exit_code == 0, created.output
    [secret] = re.findall(r"secret: (whsec_\S+)", created.stdout)
    assert created.stdout.startswith(f"webhook 1 created: http://127.0.0.1:{port}/ (job.ended)")
    listed = shoal_as_analyst("webhooks", "list", COLUMNS="200")
    assert listed.exit_code == 0 and f"http://127.0.0.1:{port}/" in listed.stdout
    assert secret not in listed.stdout
    assert shoal_as_analyst("webhooks", "deliveries", "1").stdout == "no deliveries yet\n"

    queue = app.extensions[JOBS].queue
    queue.create(user_id=analyst.user_id, job_type="TEST", payload={"id": 1})
    claimed = queue.claim(["TEST"], claimant(analyst.user_id))
    queue.complete(
        claimed.assignment.id, claimant(analyst.user_id), status=JobStatus.FAILED, error="bad"
    )
    got.wait_for(lambda received: len(received) == 1)
    [received] = got.received
    assert received.signed_with(secret)

    def recorded() -> bool:
        with services.engine.connect() as conn:
            return (
                conn.execute(text("SELECT state FROM webhook_deliveries")).scalar_one()
                == "DELIVERED"
            )

    got.wait_for(lambda _: recorded())
    shown = shoal_as_analyst("webhooks", "deliveries", "1", COLUMNS="200")
    assert shown.exit_code == 0, shown.output
    [row] = [line for line in shown.stdout.splitlines() if "job.ended" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:6] == ["1", "job.ended", "1", "FAILED", "DELIVERED", "1"]
    assert cells[6].startswith("200 ok (")

    assert shoal_as_analyst("webhooks", "delete", "1").stdout == "webhook 1 deleted\n"
    assert shoal_as_analyst("webhooks", "list").stdout == "no webhooks\n"


def test_a_subscription_to_one_workflow(
    app: Flask, analyst: Caller, shoal_as_analyst: Shoal, receiver: tuple[Receiver, int]
) -> None:
    runtime = app.extensions[JOBS]
    steps = workflows.check(
        runtime.queue.registry, [{"name": "a", "type": "TEST", "input": {"id": 1}}]
    )
    flow = Workflows(runtime.queue.engine, runtime.queue, runtime.batches).create(
        user_id=analyst.user_id, name="w", steps=steps
    )
    _, port = receiver
    made = shoal_as_analyst(
        "webhooks",
        "create",
        f"http://127.0.0.1:{port}/",
        "--events",
        "workflow.ended",
        "--workflow",
        str(flow),
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith(f"webhook 1 created: http://127.0.0.1:{port}/ (workflow.ended)")
    listed = shoal_as_analyst("webhooks", "list", COLUMNS="200")
    assert f"workflow {flow}" in listed.stdout


def test_bad_input_is_named(shoal_as_analyst: Shoal) -> None:
    refused = shoal_as_analyst("webhooks", "create", "ftp://example.org/")
    assert refused.exit_code != 0
    assert "url: must start with https:// or http://" in refused.output
    unknown = shoal_as_analyst("webhooks", "deliveries", "7")
    assert unknown.exit_code != 0 and "Webhook not found" in unknown.output


def test_the_readmes_lines_work_as_written(app: Flask, shoal_as_analyst: Shoal) -> None:
    # example.org stands for a receiver of the reader's: resolved as a public address here.
    app.extensions["shoal_webhooks"].resolve = lambda host, port: ["93.184.215.14"]
    lines = [
        shlex.split(line, comments=True)
        for line in re.findall(r"^shoal webhooks .*$", README, re.M)
    ]
    assert [words[2] for words in lines] == ["create", "list", "deliveries", "delete"]
    for words in lines:
        result = shoal_as_analyst(*words[1:])
        assert result.exit_code == 0, (words, result.output)
