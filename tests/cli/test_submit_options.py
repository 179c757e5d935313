"""``shoal jobs submit`` with a name, tags, a priority, ``--no-cache`` and ``--parsable``."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli.conftest import Caller, Shoal


def _job(live_url: str, caller: Caller, job_id: int) -> dict:
    return httpx.get(f"{live_url}/api/jobs/{job_id}", headers=caller.headers).json()["job"]


def test_submit_sends_name_tags_and_priority_and_prints_only_the_id(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    first = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 7}', "--parsable")
    assert first.exit_code == 0, first.output
    labelled = shoal_as_analyst(
        "jobs", "submit", "TEST", "--input", '{"id": 7}', "--no-cache", "--parsable",
        "--name", "heat run", "--tag", "site=reef-1", "--tag", "run=a=b", "--priority", "5",
    )  # fmt: skip
    assert labelled.exit_code == 0, labelled.output
    assert labelled.stdout.strip().isdigit() and first.stdout.strip().isdigit()
    job_id = int(labelled.stdout)
    assert job_id != int(first.stdout)  # --no-cache: not the identical earlier job
    job = _job(live_url, analyst, job_id)
    assert (job["name"], job["tags"], job["priority"]) == (
        "heat run",
        {"site": "reef-1", "run": "a=b"},
        5,
    )


def test_a_sweep_labels_every_job_and_prints_only_the_batch_id(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"id": 1}\n{"id": 2}\n')
    done = shoal_as_analyst(
        "jobs", "submit", "TEST", "--inputs", str(inputs), "--parsable",
        "--name", "sweep", "--tag", "run=7",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    batch_id = int(done.stdout)
    listed = httpx.get(
        f"{live_url}/api/jobs/mine", params={"batch": batch_id}, headers=analyst.headers
    ).json()["jobs"]
    assert [(j["name"], j["tags"]) for j in listed] == [("sweep", {"run": "7"})] * 2


def test_a_tag_that_is_not_k_v_is_a_usage_error(shoal_as_analyst: Shoal) -> None:
    refused = shoal_as_analyst("jobs", "submit", "TEST", "--input", "{}", "--tag", "site")
    assert refused.exit_code == 2
    assert "'site' is not K=V" in refused.stderr
