"""cfn-lint finds nothing wrong in either synthesized template."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.synth import Synthesized

pytest.importorskip("aws_cdk")
pytest.importorskip("cfnlint")

# W3691 flags deprecated RDS engine versions. The template names the major version only
# ("17") on purpose, so RDS picks its current minor and auto-upgrades within it; cfn-lint's
# data lists bare majors as not creatable, which is wrong for RDS, so this one rule is off.
IGNORED = "W3691"
# cfn-lint's console script, run in this interpreter so it is the one the venv installed.
CFN_LINT = "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; main()"


@pytest.mark.parametrize("variant", ["http_app", "https_app"])
def test_templates_pass_cfn_lint(variant: str, request: pytest.FixtureRequest) -> None:
    app: Synthesized = request.getfixturevalue(variant)
    templates = sorted(str(path) for path in app.outdir.glob("*.template.json"))
    assert len(templates) == 2
    result = subprocess.run(
        [sys.executable, "-c", CFN_LINT, "--format", "json", "--regions", "eu-west-1",
         "--ignore-checks", IGNORED, "--",
         *templates],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr
    matches = json.loads(result.stdout)
    problems = [
        f"{m['Rule']['Id']} {m['Filename']}:{m['Location']['Start']['LineNumber']} {m['Message']}"
        for m in matches
        if m["Level"] in ("Error", "Warning")
    ]
    assert problems == []
    assert result.returncode == 0, result.stderr
