"""``shoal budgets`` against the real web API: an admin sets, shows and clears a user's
budget and the default; a user sees their month; bad input is named; a sweep past the
budget is refused (by the API, or before it by its estimate) with nothing created."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from shared.jobtypes.builtin import TEST
from tests.cli.conftest import Shoal
from tests.webapi.jobs.conftest import Caller
from webapi.services import Services
from webapi.store import budgets


def _jobs(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM jobs")).scalar_one())


def test_an_admin_sets_shows_and_clears_budgets(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, analyst: Caller
) -> None:
    made = shoal_as_admin(
        "budgets", "set", "analyst@example.org", "--cost", "25", "--warn-at", "0.5"
    )
    assert made.exit_code == 0, made.output
    assert f"budget of user {analyst.user_id} set: 25.00 USD a month" in made.output
    assert "warning at 0.5" in made.output
    default = shoal_as_admin("budgets", "set", "default", "--vcpu-hours", "100")
    assert default.exit_code == 0 and "100 vCPU-hours a month" in default.output

    listed = shoal_as_admin("budgets", "show")
    assert listed.exit_code == 0 and "default" in listed.output
    assert f"user {analyst.user_id}" in listed.output
    one = shoal_as_admin("budgets", "show", str(analyst.user_id))
    assert one.exit_code == 0 and "your budget 25.00 USD a month (ok)" in one.output

    mine = shoal_as_analyst("budgets", "me", "--json")
    assert mine.exit_code == 0, mine.output
    assert '"source": "user"' in mine.output and '"cost": 25.0' in mine.output
    assert "spent" in shoal_as_analyst("budgets", "me").output

    cleared = shoal_as_admin("budgets", "clear", str(analyst.user_id))
    assert cleared.exit_code == 0 and "cleared (it was 25.00 USD a month)" in cleared.output
    after = shoal_as_analyst("budgets", "me")
    assert "the default budget 100 vCPU-hours a month" in after.output
    again = shoal_as_admin("budgets", "clear", str(analyst.user_id))
    assert again.exit_code == 1 and "has no budget" in again.output


def test_bad_budgets_are_refused_naming_what_is_wrong(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, analyst: Caller
) -> None:
    negative = shoal_as_admin("budgets", "set", str(analyst.user_id), "--cost", "-1")
    assert negative.exit_code == 1 and "cost" in negative.output and "[HTTP 400]" in negative.output
    warn = shoal_as_admin("budgets", "set", "default", "--cost", "1", "--warn-at", "2")
    assert warn.exit_code == 1 and "warnAt" in warn.output
    neither = shoal_as_admin("budgets", "set", "default")
    assert neither.exit_code == 1 and "Set cost or vcpuHours" in neither.output
    missing = shoal_as_admin("budgets", "set", "999999", "--cost", "1")
    assert missing.exit_code == 1 and "999999" in missing.output
    nobody = shoal_as_admin("budgets", "set", "nobody@example.org", "--cost", "1")
    assert nobody.exit_code == 2 and "no user nobody@example.org" in nobody.output
    refused = shoal_as_analyst("budgets", "set", "default", "--cost", "1")
    assert refused.exit_code == 1 and "[HTTP 403]" in refused.output


def test_a_sweep_past_the_budget_is_refused_and_creates_nothing(
    shoal_as_admin: Shoal,
    shoal_as_analyst: Shoal,
    analyst: Caller,
    services: Services,
    tmp_path: Path,
) -> None:
    with services.engine.connect() as conn:
        per_job = budgets.estimate(conn, TEST, 1)
    limit = f"{per_job.vcpu_hours * 2:f}"
    assert shoal_as_admin("budgets", "set", "default", "--vcpu-hours", limit).exit_code == 0
    sweep = tmp_path / "sweep.jsonl"
    sweep.write_text("".join(f'{{"id": {n}}}\n' for n in range(3)))
    refused = shoal_as_analyst("jobs", "submit", "TEST", "--inputs", str(sweep), "--yes")
    assert refused.exit_code == 2, refused.output  # refused by the estimate, before the API
    assert "estimate: 3 TEST jobs, about" in refused.stderr
    assert "Over budget: this sweep's estimate" in refused.stderr
    assert "nothing was submitted" in refused.stderr
    assert _jobs(services) == 0
    sweep.write_text('{"id": 1}\n{"id": 2}\n')
    # not at a terminal: no question and nothing said, stdout and stderr as before
    fits = shoal_as_analyst("jobs", "submit", "TEST", "--inputs", str(sweep))
    assert fits.exit_code == 0, fits.output
    assert "estimate" not in fits.stderr and "estimate" not in fits.stdout
    assert fits.stdout.startswith("batch ")
    assert _jobs(services) == 2
    # the API refuses what the estimate would let through once the budget is used up
    again = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 9}')
    assert again.exit_code == 1 and "Over budget: the default budget (vcpuHours)" in again.stderr


def _at_a_terminal(args: list[str], env: dict[str, str], answer: str) -> tuple[int, str]:
    """Run ``shoal ARGS`` with a pseudo-terminal as its stdin, stdout and stderr; answer
    ``answer`` once it asks to confirm. Its exit code and everything it wrote."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal_cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, **env},
        close_fds=True,
    )
    os.close(terminal)
    written = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, f"no output for a minute: {written!r}"
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            written += chunk
            if not answered and b"submit it?" in written:
                os.write(controller, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(controller)
    return process.wait(30), written.decode(errors="replace")


def test_a_sweep_asks_to_confirm_its_estimate_at_a_terminal(
    analyst_env: dict[str, str | None], services: Services, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep.jsonl"
    sweep.write_text('{"id": 1}\n{"id": 2}\n')
    env = {key: value for key, value in analyst_env.items() if value is not None}
    args = ["jobs", "submit", "TEST", "--inputs", str(sweep)]
    code, written = _at_a_terminal(args, env, "n")
    assert code == 1 and "estimate: 2 TEST jobs" in written and "Aborted" in written, written
    assert _jobs(services) == 0
    code, written = _at_a_terminal(args, env, "y")
    assert code == 0 and "batch 1 submitted: 2 inputs" in written, written
    assert _jobs(services) == 2
