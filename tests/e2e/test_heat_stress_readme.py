"""examples/heat-stress in ``shoal dev``, by following its README section "Run it in
``shoal dev``": its shell blocks run as written with bash, in a copy of the example
beside this checkout's ``.venv``, against a ``shoal dev`` started as its first block
says (on a free port instead of 5000: the README's port is replaced in every block).
The C program is compiled by the first job, as the README says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.live import free_port
from tests.e2e.test_shoal_dev import _stop, _wait_healthy
from tests.support.shoal_dev import start_shoal_dev

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine"),
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "heat-stress"
RESULT = {"weeks": 18, "maxDhw": 12.55, "peakWeek": 13, "alert": "alert 2"}


def readme_blocks() -> list[str]:
    """The bash blocks of the README's section on ``shoal dev``, in order."""
    text = (EXAMPLE / "README.md").read_text()
    section = text.split("## Run it in `shoal dev`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.DOTALL)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the example where the README's commands run (they write beside it)."""
    root = tmp_path / "checkout"
    shutil.copytree(
        EXAMPLE, root / "examples" / "heat-stress", ignore=shutil.ignore_patterns("bin")
    )
    (root / ".venv").symlink_to(ROOT / ".venv")
    return root


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[int]:
    """``shoal dev`` as the section's first block starts it (without its bootstrap)."""
    [start, *_] = readme_blocks()
    found = re.fullmatch(
        r"SHOAL_ADMIN_EMAIL=(\S+) SHOAL_ADMIN_PASSWORD=(\S+) \./scripts/dev\n", start
    )
    assert found, start
    port = free_port()
    with (tmp_path / "shoal-dev.log").open("wb") as log:
        proc = start_shoal_dev(tmp_path / "shoal-data", port, found.groups(), log=log)  # type: ignore[arg-type]
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
            yield port
        finally:
            _stop(proc)


def has_types_command() -> bool:
    shoal = ROOT / ".venv" / "bin" / "shoal"
    found = subprocess.run([shoal, "types", "--help"], capture_output=True, check=False)
    return found.returncode == 0


def test_the_readme_registers_runs_and_downloads_a_heat_stress_job(
    dev: int, checkout: Path, tmp_path: Path
) -> None:
    _, register, curl, submit, *_ = readme_blocks()
    if not has_types_command():  # the CLI's `shoal types` is not on this branch yet
        register = "\n".join(x for x in register.splitlines() if not x.startswith("shoal types"))
    script = "\n".join(["set -eo pipefail", register, curl, submit])
    script = script.replace("5000", str(dev)).replace(
        "/tmp/heat-stress.yaml", str(tmp_path / "t.yaml")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    assert re.search(r'"revision": ?1\b', printed), printed
    assert "6 weeks under alert" in printed
    [result] = (checkout / "results").rglob("result.json")
    assert json.loads(result.read_text()) == RESULT
    assert sorted(p.name for p in result.parent.iterdir()) == [
        "alerts.txt",
        "result.json",
        "weeks.csv",
    ]
