"""``shoal batches``: list, watch (re-attaching after Ctrl-C), cancel, failed, download."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shoal_cli import batch_commands
from tests.cli.conftest import PASSWORD, Caller, FakeWorker, Shoal
from tests.cli.test_batches import _lines

FAILING = {"status": "FAILED", "resultPayload": None, "error": "no such reef\x1b[2J"}


def _batch(live_url: str, analyst: Caller, inputs: list[dict], **extra: object) -> dict:
    body = {"type": "TEST", "inputs": inputs, **extra}
    answer = httpx.post(f"{live_url}/api/jobs/batch", json=body, headers=analyst.headers)
    assert answer.status_code == 201, answer.text
    created: dict = answer.json()
    return created


def _one_by_one(fake_worker: Callable[..., FakeWorker], *plays: dict) -> None:
    """Workers that each take the next job in turn (a user's jobs go oldest first)."""
    for options in plays:
        fake_worker(progress=[], pause=0, **options).join()


def test_list_shows_my_batches_with_their_names(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    first = _batch(live_url, analyst, [{"id": 1}])["batchId"]
    second = _batch(live_url, analyst, [{"id": 2}, {"id": 3}], name="reef sweep")["batchId"]
    table = shoal_as_analyst("batches", "list", COLUMNS="120")
    assert table.exit_code == 0, table.output
    rows = [line.split("│")[1:-1] for line in table.stdout.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row[:4]] for row in rows]
    assert cells == [
        [str(second), "reef sweep", "TEST", "2"],
        [str(first), "", "TEST", "1"],
    ]
    as_json = shoal_as_analyst("batches", "list", "--json")
    page = httpx.get(f"{live_url}/api/jobs/batches", headers=analyst.headers).json()
    assert json.loads(as_json.stdout) == page
    one = shoal_as_analyst("batches", "list", "--limit", "1", "--json")
    cursor = json.loads(one.stdout)["nextCursor"]
    rest = shoal_as_analyst("batches", "list", "--cursor", cursor, "--json")
    assert [b["id"] for b in json.loads(rest.stdout)["batches"]] == [first]
    assert f"--cursor {cursor}" in shoal_as_analyst("batches", "list", "--limit", "1").stderr


def test_cancel_stops_the_rest_of_a_batch(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    batch_id = _batch(live_url, analyst, [{"id": i} for i in range(3)])["batchId"]
    result = shoal_as_analyst("batches", "cancel", str(batch_id))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"batch {batch_id}: cancelled 3 jobs; now 3 CANCELLED\n"
    missing = shoal_as_analyst("batches", "cancel", str(batch_id + 1))
    assert missing.exit_code == 1 and f"Batch {batch_id + 1} not found" in missing.stderr


def test_failed_names_each_failed_input_and_its_error(
    shoal_as_analyst: Shoal,
    fake_worker: Callable[..., FakeWorker],
    live_url: str,
    analyst: Caller,
) -> None:
    batch = _batch(live_url, analyst, [{"id": 1}, {"id": 2}, {"id": 3}])
    _one_by_one(fake_worker, {}, {"outcome": FAILING}, {})
    result = shoal_as_analyst("batches", "failed", str(batch["batchId"]), COLUMNS="120")
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:-1] for line in result.stdout.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["2", str(batch["jobIds"][1]), "FAILED", "no such reef\\x1b[2J"],
    ]
    lines = shoal_as_analyst("batches", "failed", str(batch["batchId"]), "--json")
    assert [json.loads(line) for line in lines.stdout.splitlines()] == [
        {
            "inputIndex": 2,
            "jobId": batch["jobIds"][1],
            "status": "FAILED",
            "error": FAILING["error"],
            "finishedAt": json.loads(lines.stdout)["finishedAt"],
        }
    ]
    clean = _batch(live_url, analyst, [{"id": 1}])["batchId"]  # a cache hit, succeeded
    assert shoal_as_analyst("batches", "failed", str(clean)).stdout == (
        f"batch {clean}: no failed inputs\n"
    )


def test_download_puts_each_inputs_files_under_its_index(
    shoal_as_analyst: Shoal,
    fake_worker: Callable[..., FakeWorker],
    live_url: str,
    analyst: Caller,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_commands, "PAGE", 1)  # one input a page: every page followed
    batch_id = _batch(live_url, analyst, [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 1}])["batchId"]
    _one_by_one(
        fake_worker,
        {"files": {"result.json": "one", "maps/a.txt": "a"}},
        {"outcome": FAILING},
        {"files": {"result.json": "three"}},
    )
    result = shoal_as_analyst("batches", "download", str(batch_id), str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        f"downloaded 5 files (13 bytes) of 3 inputs to {tmp_path / 'out'}; 1 without files\n"
    )
    found = {
        str(path.relative_to(tmp_path / "out")): path.read_text()
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
    }
    assert found == {
        "1/result.json": "one",
        "1/maps/a.txt": "a",
        "3/result.json": "three",
        "4/result.json": "one",
        "4/maps/a.txt": "a",
    }


@pytest.mark.slow
def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_reattaches_to_a_sweep_after_ctrl_c_on_submit_wait(
    shoal_as_analyst: Shoal,
    fake_worker: Callable[..., FakeWorker],
    live_url: str,
    tmp_path: Path,
) -> None:
    inputs = _lines(tmp_path / "sweep.jsonl", [{"id": 1}, {"id": 2}, {"id": 3}])
    env = {
        **{k: v for k, v in os.environ.items() if k != "SHOAL_API_KEY"},
        "SHOAL_API_URL": live_url,
        "SHOAL_EMAIL": "analyst@example.org",
        "SHOAL_PASSWORD": PASSWORD,
    }
    shoal = str(Path(sys.executable).with_name("shoal"))
    with subprocess.Popen(
        [shoal, "jobs", "submit", "TEST", "--inputs", inputs, "--wait"],
        env=env,
        # Ctrl-C as at a terminal, even where this process ignores SIGINT (a background
        # job of a shell): an ignored signal stays ignored across exec.
        preexec_fn=_interruptible,  # noqa: PLW1509 - it only resets one signal before exec
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as submitting:
        try:
            assert submitting.stdout is not None and submitting.stderr is not None
            submitted = submitting.stdout.readline()
            batch_id = int(submitted.split()[1])
            # Following: its first status line is out.
            assert submitting.stderr.readline().startswith(f"batch {batch_id} 0% 3 PENDING")
            submitting.send_signal(signal.SIGINT)
            _, errors = submitting.communicate(timeout=30)
        finally:
            if submitting.poll() is None:
                submitting.kill()
    assert submitting.returncode == 130, errors
    assert f"stopped following batch {batch_id}; its jobs go on" in errors
    players = [fake_worker(progress=[(0.5, "halfway")]) for _ in range(3)]
    watched = shoal_as_analyst("batches", "watch", str(batch_id))
    for playing in players:
        playing.join()
    assert watched.exit_code == 0, watched.output
    assert watched.stdout == f"batch {batch_id}: 3 SUCCEEDED\n"
    progress = watched.stderr.splitlines()
    assert any("IN_PROGRESS" in line for line in progress), progress
    assert progress[-1] == f"batch {batch_id} 100% 3 SUCCEEDED"
