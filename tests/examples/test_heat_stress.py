"""examples/heat-stress: its type file is a valid type document whose example input is the
README's, its program (a shell script driving a C program it compiles on first use) runs
through the command runner as a worker would run it, and its Dockerfiles pass hadolint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from shared.client import Claim
from tests.worker.command_support import FixedSpec
from worker.command_runner import CommandRunner
from worker.joblog import LogBuffer
from worker.runspec import RunSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "heat-stress"
HADOLINT = shutil.which(
    "hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)
RESULT = {"weeks": 18, "maxDhw": 12.55, "peakWeek": 13, "alert": "alert 2"}


def type_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / "type.yaml").read_text())
    return doc


def test_the_type_file_holds_valid_schemas_and_the_readmes_example_input() -> None:
    doc = type_doc()
    assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", doc["name"])
    for schema in (doc["inputSchema"], doc["resultSchema"]):
        Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(doc["inputSchema"]).iter_errors(doc["exampleInput"])) == []
    assert json.loads((EXAMPLE / "input.json").read_text()) == doc["exampleInput"]
    assert list(Draft202012Validator(doc["resultSchema"]).iter_errors(RESULT)) == []
    assert doc["run"]["command"] == ["/app/run.sh"]
    assert RunSpec.from_document({**doc, "revision": 1}).command == ("/app/run.sh",)


def test_the_type_file_is_a_type_document_the_api_takes() -> None:
    document = pytest.importorskip(
        "shared.jobtypes.document", reason="the type document's parser is not here yet"
    )
    parsed = document.RegisteredType.from_wire(type_doc())
    assert parsed.document["run"]["command"] == ["/app/run.sh"]


def run_example(copy: Path, job_id: int) -> tuple[Any, list[tuple[float, str | None]], Path]:
    """run.sh of ``copy`` for the example input, as the worker runs it: the result, the
    progress reported and the output folder."""
    spec = RunSpec((str(copy / "run.sh"),), result_schema=type_doc()["resultSchema"])
    claim = Claim(
        job={"id": job_id, "type": "HEAT_STRESS", "input_payload": type_doc()["exampleInput"]},
        assignment={"id": job_id, "attempt": 1},
    )
    job_dir = copy.parent / f"job-{job_id}"
    job_dir.mkdir()
    progress: list[tuple[float, str | None]] = []
    done = CommandRunner(FixedSpec(spec), os.environ).run(
        spec,
        claim,
        job_dir,
        report=lambda fraction, message: progress.append((fraction, message)),
        log_buffer=LogBuffer(1 << 20),
        cancel=threading.Event(),
    )
    assert done is not None
    return done.payload, progress, done.files


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_the_program_builds_itself_once_and_computes_the_heat_stress(tmp_path: Path) -> None:
    copy = tmp_path / "heat-stress"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("bin", "wheels"))
    payload, progress, output = run_example(copy, 1)
    assert payload == RESULT
    assert progress == [
        (0.05, "compiling dhw.c"),
        (0.2, "computing"),
        (0.8, "listing the weeks under alert"),
        (1.0, "done"),
    ]
    assert sorted(path.name for path in output.iterdir()) == [
        "alerts.txt",
        "result.json",
        "weeks.csv",
    ]
    weeks = (output / "weeks.csv").read_text().splitlines()
    assert weeks[0] == "week,sst,hotspot,dhw,alert" and len(weeks) == 19
    assert weeks[8] == "8,29.95,1.65,4.05,alert 1"
    assert (output / "alerts.txt").read_text().splitlines() == [
        "week 8: alert 1 (DHW 4.05)",
        "week 9: alert 1 (DHW 5.95)",
        "week 10: alert 2 (DHW 8.05)",
        "week 11: alert 2 (DHW 9.85)",
        "week 12: alert 2 (DHW 11.35)",
        "week 13: alert 2 (DHW 12.55)",
    ]
    again, progress, _ = run_example(copy, 2)  # built already: no compiling this time
    assert again == RESULT and progress[0] == (0.2, "computing")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint has no wheel for this platform")
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "pip.Dockerfile"])
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(EXAMPLE / dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_images_build_the_program_and_run_the_type_from_its_file() -> None:
    command = type_doc()["run"]["command"][0]
    for dockerfile in ("Dockerfile", "pip.Dockerfile"):
        text = (EXAMPLE / dockerfile).read_text()
        froms = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, flags=re.MULTILINE)
        assert froms[0] == ("${BUILD_IMAGE}", "build")
        assert "ARG BUILD_IMAGE=gcc:" in text
        assert "COPY --from=build /src/dhw /app/bin/dhw" in text
        assert f"COPY --chmod=0755 run.sh {command}" in text
        for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", text, flags=re.MULTILINE):
            assert source == "wheels/" or (EXAMPLE / source).exists(), source
    assert "FROM ${WORKER_IMAGE}" in (EXAMPLE / "Dockerfile").read_text()
    assert "ARG WORKER_IMAGE=shoal-worker:" in (EXAMPLE / "Dockerfile").read_text()
    assert '/opt/shoal/bin/pip install --no-cache-dir "$1[worker]"' in (
        (EXAMPLE / "pip.Dockerfile").read_text()
    )
