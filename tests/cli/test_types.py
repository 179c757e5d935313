"""``shoal types`` against the real web API: list, show, apply a type file (ReefGuide's, a
JSON one, stdin, a bad one), retire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cli.conftest import Shoal, run_shoal
from tests.cli.test_terminal_safety import ESCAPED, HOSTILE
from tests.webapi.jobtypes.conftest import MODEL

REEFGUIDE = Path(__file__).parents[2] / "examples" / "reefguide" / "job-types.yaml"
REEF_NAMES = [doc["name"] for doc in yaml.safe_load(REEFGUIDE.read_text())["jobTypes"]]
WIDE = {"COLUMNS": "200"}


def _types(live_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{live_url}/api/job-types?retired=true", headers=headers)
    found: list[dict[str, Any]] = answer.json()["jobTypes"]
    return found


def _rows(output: str) -> dict[str, list[str]]:
    """A rich table's rows by their first cell (one line each at this width)."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines()]
    return {row[0]: row[1:] for row in rows if row and row[0] and row[0] != "name"}


def test_reefguides_file_applies_once_then_is_unchanged(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal
) -> None:
    first = shoal_as_admin("types", "apply", "-f", str(REEFGUIDE))
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [f"{name}: created (revision 1)" for name in REEF_NAMES]
    again = shoal_as_admin("types", "apply", "-f", str(REEFGUIDE))
    assert again.stdout.splitlines() == [f"{name}: unchanged (revision 1)" for name in REEF_NAMES]

    listed = shoal_as_analyst("types", "list", **WIDE)
    assert listed.exit_code == 0, listed.output
    rows = _rows(listed.stdout)
    assert sorted(rows) == sorted([*REEF_NAMES, "POLYGON_STATS", "TEST"])
    assert rows["ADRIA_MODEL_RUN"][:3] == ["registered", "1", ""]
    assert rows["ADRIA_MODEL_RUN"][3].startswith("An ADRIA model run over one")
    assert rows["TEST"][:3] == ["builtin", "-", ""]


def test_a_changed_file_makes_a_revision_and_show_reads_either(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(MODEL))
    assert shoal_as_admin("types", "apply", "-f", str(path)).stdout == (
        "MY_MODEL: created (revision 1)\n"
    )
    path.write_text(yaml.safe_dump({**MODEL, "description": "Fits it better."}))
    changed = shoal_as_admin("types", "apply", "-f", str(path))
    assert changed.stdout == "MY_MODEL: changed (revision 2)\n"

    shown = shoal_as_analyst("types", "show", "MY_MODEL")
    assert shown.exit_code == 0, shown.output
    doc = yaml.safe_load(shown.stdout)
    assert (doc["revision"], doc["description"]) == (2, "Fits it better.")
    assert (doc["inputSchema"], doc["exampleInput"]) == (MODEL["inputSchema"], {"region": "cairns"})
    first = yaml.safe_load(shoal_as_analyst("types", "show", "MY_MODEL", "--revision", "1").stdout)
    assert (first["revision"], first["description"]) == (1, MODEL["description"])
    as_json = json.loads(shoal_as_analyst("types", "show", "MY_MODEL", "--json").stdout)
    assert as_json == doc

    # What show printed is a type file: applied as it is, it changes nothing.
    path.write_text(shown.stdout)
    same = shoal_as_admin("types", "apply", "-f", str(path))
    assert same.stdout == "MY_MODEL: unchanged (revision 2)\n"
    missing = shoal_as_analyst("types", "show", "NOPE")
    assert (missing.exit_code, missing.stderr) == (1, "error: Job type NOPE not found [HTTP 404]\n")


def test_json_files_and_stdin_apply_too(
    admin_env: dict[str, str | None], tmp_path: Path, live_url: str
) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"jobTypes": [MODEL]}))
    from_json = run_shoal(["types", "apply", "-f", str(path)], admin_env)
    assert from_json.stdout == "MY_MODEL: created (revision 1)\n", from_json.output
    other = {**MODEL, "name": "OTHER_MODEL"}
    from_stdin = run_shoal(["types", "apply", "-f", "-"], admin_env, yaml.safe_dump(other))
    assert from_stdin.stdout == "OTHER_MODEL: created (revision 1)\n", from_stdin.output


def test_a_bad_file_names_every_field_and_sends_nothing(
    shoal_as_admin: Shoal, tmp_path: Path, live_url: str, admin_env: dict[str, str | None]
) -> None:
    good = {**MODEL, "name": "GOOD_MODEL"}
    bad = {
        **MODEL,
        "inputSchema": {"type": "object", "properties": {"region": {"type": "text"}}},
        "run": {"command": ["model"], "environment": {"DB_PASSWORD": "hunter2"}},
        "maxAttempts": 0,
    }
    path = tmp_path / "types.yaml"
    path.write_text(yaml.safe_dump({"jobTypes": [good, bad, good]}))
    result = shoal_as_admin("types", "apply", "-f", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    where = f"{path}: jobTypes[1] (MY_MODEL)"
    assert result.stderr.splitlines() == [
        f"error: {where}: maxAttempts: Must be greater than or equal to 1 and less than or"
        " equal to 100.",
        f"error: {where}: run.environment.DB_PASSWORD: Looks like a secret: reference it in"
        " run.secrets by ARN instead.",
    ]
    headers = {"X-API-Key": str(admin_env["SHOAL_API_KEY"])}
    assert [doc["name"] for doc in _types(live_url, headers)] == ["POLYGON_STATS", "TEST"]

    # The schema is checked too, once the document's own fields pass.
    path.write_text(yaml.safe_dump({**bad, "run": None, "maxAttempts": 1}))
    schema = shoal_as_admin("types", "apply", "-f", str(path))
    assert schema.stderr.startswith(
        f"error: {path}: the document (MY_MODEL): inputSchema.properties.region.type: "
    )
    path.write_text(yaml.safe_dump({"jobTypes": [good, good]}))
    twice = shoal_as_admin("types", "apply", "-f", str(path))
    assert twice.stderr == f"error: {path}: jobTypes[1]: name: GOOD_MODEL is in the file twice.\n"
    path.write_text("jobTypes: [name: X\n")
    unreadable = shoal_as_admin("types", "apply", "-f", str(path))
    assert unreadable.exit_code == 2
    assert unreadable.stderr.startswith(f"error: {path} is not valid YAML: ")
    assert len(unreadable.stderr.splitlines()) == 1
    assert [doc["name"] for doc in _types(live_url, headers)] == ["POLYGON_STATS", "TEST"]


def test_what_only_the_api_knows_is_refused_after_the_file_passes(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump({**MODEL, "run": {"command": ["m"], "image": "evil.io/x"}}))
    refused = shoal_as_admin("types", "apply", "-f", str(path))
    assert refused.exit_code == 1
    assert "Image 'evil.io/x' is not allowed: SHOAL_ALLOWED_IMAGES" in refused.stderr
    assert "run.image: Must start with one of SHOAL_ALLOWED_IMAGES" in refused.stderr
    path.write_text(yaml.safe_dump(MODEL))
    analyst = shoal_as_analyst("types", "apply", "-f", str(path))
    assert analyst.exit_code == 1
    assert analyst.stderr.startswith("error: ") and "[HTTP 403]" in analyst.stderr
    builtin = shoal_as_admin("types", "retire", "TEST")
    assert (builtin.exit_code, "[HTTP 409]" in builtin.stderr) == (1, True)


def test_retire_takes_a_type_out_of_the_list(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(MODEL))
    shoal_as_admin("types", "apply", "-f", str(path))
    retired = shoal_as_admin("types", "retire", "MY_MODEL")
    assert retired.exit_code == 0, retired.output
    assert retired.stdout == "MY_MODEL: retired (revision 1); jobs already queued still run\n"
    assert "MY_MODEL" not in _rows(shoal_as_analyst("types", "list", **WIDE).stdout)
    rows = _rows(shoal_as_analyst("types", "list", "--retired", **WIDE).stdout)
    assert rows["MY_MODEL"][:3] == ["registered", "1", "retired"]
    listed = json.loads(shoal_as_analyst("types", "list", "--retired", "--json").stdout)
    assert [doc["retired"] for doc in listed["jobTypes"] if doc["name"] == "MY_MODEL"] == [True]
    back = shoal_as_admin("types", "apply", "-f", str(path))
    assert back.stdout == "MY_MODEL: changed (revision 2)\n"


def test_a_types_text_cannot_drive_the_terminal(
    shoal_as_admin: Shoal, shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**MODEL, "description": HOSTILE}))
    assert shoal_as_admin("types", "apply", "-f", str(path)).exit_code == 0
    listed = shoal_as_analyst("types", "list", COLUMNS="400")
    assert "\x1b" not in listed.stdout and "\x9b" not in listed.stdout
    assert ESCAPED.replace("\\x0d", "") in listed.stdout.replace("\\x0d", "")
    shown = shoal_as_analyst("types", "show", "MY_MODEL")
    assert "\x1b" not in shown.stdout and "\x9b" not in shown.stdout and "\r" not in shown.stdout
    assert (
        json.loads(shoal_as_analyst("types", "show", "MY_MODEL", "--json").stdout)["description"]
        == HOSTILE
    )
