"""``shoal jobs submit TYPE --inputs FILE``: a sweep in one batch, followed with one bar."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.cli.conftest import Caller, FakeWorker, Shoal, run_shoal


def _lines(path: Path, inputs: list[object]) -> str:
    path.write_text("\n".join(json.dumps(value) for value in inputs) + "\n\n")
    return str(path)


def test_submit_inputs_wait_follows_the_batch_to_its_end(
    shoal_as_analyst: Shoal,
    fake_worker: Callable[..., FakeWorker],
    tmp_path: Path,
    live_url: str,
    analyst: Caller,
) -> None:
    players = [fake_worker(progress=[(0.5, "halfway")]) for _ in range(3)]
    inputs = _lines(tmp_path / "sweep.jsonl", [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 1}])
    result = shoal_as_analyst("jobs", "submit", "TEST", "--inputs", inputs, "--wait")
    for playing in players:
        playing.join()
    assert result.exit_code == 0, result.output
    batch_id = int(result.stdout.split()[1])
    assert result.stdout.splitlines() == [
        f"batch {batch_id} submitted: 4 inputs, 3 new jobs, 1 cached",
        f"batch {batch_id}: 4 SUCCEEDED",
    ]
    progress = result.stderr.splitlines()
    assert progress[0].startswith(f"batch {batch_id} ")
    assert progress[-1] == f"batch {batch_id} 100% 4 SUCCEEDED"
    assert any("IN_PROGRESS" in line for line in progress), progress
    status = httpx.get(f"{live_url}/api/jobs/batches/{batch_id}", headers=analyst.headers)
    assert status.json()["counts"]["SUCCEEDED"] == 4


def test_submit_inputs_wait_exits_1_unless_every_job_succeeds(
    shoal_as_analyst: Shoal, fake_worker: Callable[..., FakeWorker], tmp_path: Path
) -> None:
    failing = {"status": "FAILED", "resultPayload": None, "error": "boom"}
    players = [fake_worker(progress=[]), fake_worker(progress=[], outcome=failing)]
    inputs = _lines(tmp_path / "sweep.jsonl", [{"id": 1}, {"id": 2}])
    result = shoal_as_analyst(
        "jobs", "submit", "TEST", "--inputs", inputs, "--wait", TTY_COMPATIBLE="1", COLUMNS="160"
    )
    for playing in players:
        playing.join()
    assert result.exit_code == 1, result.output
    batch_id = int(result.stdout.split()[1])
    assert result.stdout.splitlines()[-1] == f"batch {batch_id}: 1 SUCCEEDED, 1 FAILED"
    assert f"batch {batch_id} TEST" in result.stderr and "━" in result.stderr
    assert "2/2 finished" in result.stderr


def test_submit_inputs_reads_stdin_without_waiting(shoal_as_analyst: Shoal) -> None:
    result = shoal_as_analyst(
        "jobs", "submit", "TEST", "--inputs", "-", stdin='{"id": 4}\n{"id": 5}\n'
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(": 2 inputs, 2 new jobs, 0 cached\n")


def test_bad_sweeps_are_one_line_and_submit_nothing(
    shoal_as_analyst: Shoal, tmp_path: Path, live_url: str, analyst: Caller
) -> None:
    cases = {
        _lines(tmp_path / "a.jsonl", [{"id": 1}, [2]]): (2, "line 2 must be a JSON object"),
        str(tmp_path / "missing.jsonl"): (2, "cannot read"),
        _lines(tmp_path / "b.jsonl", []): (2, "has no inputs"),
        _lines(tmp_path / "c.jsonl", [{"id": 1}, {"id": "x"}]): (
            1,
            "input 2 does not match its schema (id: ",
        ),
    }
    (tmp_path / "d.jsonl").write_text('{"id": 1}\n{"id": \n')
    cases[str(tmp_path / "d.jsonl")] = (2, "line 2 is not valid JSON")
    for path, (code, expected) in cases.items():
        result = shoal_as_analyst("jobs", "submit", "TEST", "--inputs", path)
        assert result.exit_code == code, (path, result.output)
        [line] = result.stderr.splitlines()
        assert expected in line, line
    both = shoal_as_analyst("jobs", "submit", "TEST", "--input", "{}", "--inputs", path)
    neither = run_shoal(["jobs", "submit", "TEST"], {"SHOAL_API_URL": live_url})
    for result in (both, neither):
        assert result.exit_code == 2 and "either --input" in result.stderr
    page = httpx.get(f"{live_url}/api/jobs/batches", headers=analyst.headers).json()
    assert page["batches"] == []
