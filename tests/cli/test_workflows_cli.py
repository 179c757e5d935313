"""``shoal workflows`` against the real API (no worker runs here): the example's type
applied and its workflow submitted as written, read back, and a bad file refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_shoal

ROOT = Path(__file__).parents[2]


def test_the_example_workflow_is_submitted_and_read_back(
    admin_env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    applied = run_shoal(
        ["types", "apply", "-f", "examples/workflow/aggregate-type.yaml"], admin_env
    )
    assert applied.exit_code == 0, applied.output
    submitted = run_shoal(
        ["workflows", "submit", "examples/workflow/flow.yaml", "--json"], admin_env
    )
    assert submitted.exit_code == 0, submitted.output
    flow = json.loads(submitted.stdout)["workflow"]
    assert [(s["name"], s["status"]) for s in flow["steps"]] == [
        ("prepare", "PENDING"),
        ("sweep", "WAITING"),
        ("aggregate", "WAITING"),
    ]
    shown = run_shoal(["workflows", "get", str(flow["id"])], {**admin_env, "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert f"workflow {flow['id']} sweep and aggregate: PENDING" in shown.stdout
    assert "5 WAITING" in shown.stdout


def test_a_bad_workflow_file_is_one_line_and_creates_nothing(
    admin_env: dict[str, str | None], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nsteps:\n  - {name: a, type: TEST, input: {id: 1}, after: {b: afterok}}\n"
    )
    result = run_shoal(["workflows", "submit", str(bad)], admin_env)
    assert result.exit_code != 0
    assert "Step a waits for 'b': no such step" in result.output
    listed = run_shoal(["workflows", "get", "1"], admin_env)
    assert listed.exit_code != 0 and "not found" in listed.output
