"""``shoal jobs`` against the real web API over HTTP, with a worker played in a thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.cli.conftest import Caller, FakeWorker, Shoal, run_shoal


def test_submit_prints_the_id_and_whether_it_was_cached(
    shoal_as_analyst: Shoal, live_url: str, analyst: Caller
) -> None:
    first = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 7}')
    assert first.exit_code == 0, first.output
    job_id = int(first.stdout.split()[1])
    assert first.stdout == f"job {job_id} submitted\n"

    again = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 7}')
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"job {job_id} (cached")

    job = httpx.get(f"{live_url}/api/jobs/{job_id}", headers=analyst.headers).json()["job"]
    assert (job["type"], job["input_payload"]) == ("TEST", {"id": 7})


def test_submit_reads_the_input_from_a_file_or_stdin(
    shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"id": 3, "durationSeconds": 1}')
    from_file = shoal_as_analyst("jobs", "submit", "TEST", "--input", f"@{path}")
    assert from_file.exit_code == 0 and "submitted" in from_file.stdout
    from_stdin = shoal_as_analyst(
        "jobs", "submit", "TEST", "--input", "@-", stdin='{"durationSeconds": 1, "id": 3}'
    )
    # the same payload in another key order is the same job
    assert from_stdin.exit_code == 0 and "(cached" in from_stdin.stdout


def test_bad_input_is_one_line_with_the_apis_message(shoal_as_analyst: Shoal) -> None:
    refused = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": "x", "extra": 1}')
    assert refused.exit_code == 1
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: ") and "[HTTP 400]" in line
    assert "id" in line and "extra" in line

    unknown = shoal_as_analyst("jobs", "submit", "NO_SUCH_TYPE", "--input", "{}")
    assert unknown.exit_code == 1 and len(unknown.stderr.splitlines()) == 1
    assert "NO_SUCH_TYPE" in unknown.stderr


def test_input_that_is_not_a_json_object_is_a_usage_error(tmp_path: Path) -> None:
    # The input is checked before any request, so no API is needed.
    env: dict[str, str | None] = {"SHOAL_API_URL": "http://127.0.0.1:1", "SHOAL_API_KEY": "k"}
    cases = {
        "{not json": "not valid JSON",
        "[1, 2]": "must be a JSON object, not an array",
        f"@{tmp_path / 'missing.json'}": "cannot read",
    }
    for text, expected in cases.items():
        result = run_shoal(["jobs", "submit", "TEST", "--input", text], env)
        assert result.exit_code == 2, text
        [line] = result.stderr.splitlines()
        assert expected in line, line


def test_submit_wait_follows_progress_to_success(
    shoal_as_analyst: Shoal, fake_worker: Callable[..., FakeWorker]
) -> None:
    playing = fake_worker(progress=[(0.25, "reading"), (0.75, "writing")])
    result = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 1}', "--wait")
    playing.join()
    assert result.exit_code == 0, result.output
    job_id = int(result.stdout.split()[1])
    assert result.stdout.splitlines() == [f"job {job_id} submitted", f"job {job_id} SUCCEEDED"]
    progress = result.stderr.splitlines()
    assert progress[0].startswith(f"job {job_id} PENDING") or "IN_PROGRESS" in progress[0]
    assert f"job {job_id} IN_PROGRESS 25% reading" in progress
    assert f"job {job_id} IN_PROGRESS 75% writing" in progress
    assert progress[-1].startswith(f"job {job_id} SUCCEEDED")


def test_submit_wait_exits_1_when_the_job_fails(
    shoal_as_analyst: Shoal, fake_worker: Callable[..., FakeWorker]
) -> None:
    outcome = {"status": "FAILED", "resultPayload": None, "error": "out of\nmemory"}
    logs = [
        {"seq": seq, "time": "2026-11-30T01:02:03Z", "level": "ERROR", "stream": "log",
         "message": f"allocating block {seq}"}
        for seq in range(25)
    ]  # fmt: skip
    playing = fake_worker(progress=[], outcome=outcome, logs=logs)
    result = shoal_as_analyst("jobs", "submit", "TEST", "--input", '{"id": 2}', "--wait")
    playing.join()
    assert result.exit_code == 1
    job_id = int(result.stdout.split()[1])
    assert result.stdout.splitlines()[-1].endswith("FAILED: out of memory")
    # Its last log lines come with the error (on stderr, above the outcome).
    tail = result.stderr.splitlines()[-21:]
    assert tail[0] == f"last log lines of job {job_id}:"
    assert tail[1:] == [
        f"  2026-11-30T01:02:03.000Z #1 ERROR    allocating block {seq}" for seq in range(5, 25)
    ]
    shown = shoal_as_analyst("jobs", "get", str(job_id))
    assert "log tail" in shown.stdout and "allocating block 24" in shown.stdout
    assert "allocating block 4\n" not in shown.stdout


def test_watch_follows_a_job_to_its_end(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], fake_worker: Callable[..., FakeWorker]
) -> None:
    job_id = submit_job({"id": 5})
    playing = fake_worker()
    result = shoal_as_analyst("jobs", "watch", str(job_id))
    playing.join()
    assert result.exit_code == 0, result.output
    assert result.stdout == f"job {job_id} SUCCEEDED\n"
    assert f"job {job_id} IN_PROGRESS 50% halfway" in result.stderr.splitlines()


def test_watch_draws_a_live_progress_bar_on_a_terminal(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], fake_worker: Callable[..., FakeWorker]
) -> None:
    job_id = submit_job({"id": 6})
    playing = fake_worker()
    result = shoal_as_analyst("jobs", "watch", str(job_id), TTY_COMPATIBLE="1", COLUMNS="120")
    playing.join()
    assert result.exit_code == 0, result.output
    assert result.stdout == f"job {job_id} SUCCEEDED\n"
    assert f"job {job_id} TEST" in result.stderr and "SUCCEEDED" in result.stderr
    assert "━" in result.stderr  # rich's bar
    assert "100%" in result.stderr


def test_watch_of_a_cancelled_job_exits_1(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int]
) -> None:
    job_id = submit_job({"id": 8})
    cancelled = shoal_as_analyst("jobs", "cancel", str(job_id))
    assert cancelled.exit_code == 0 and cancelled.stdout == f"job {job_id} CANCELLED\n"
    watched = shoal_as_analyst("jobs", "watch", str(job_id))
    assert watched.exit_code == 1 and watched.stdout == f"job {job_id} CANCELLED\n"
    again = shoal_as_analyst("jobs", "cancel", str(job_id))
    assert again.exit_code == 1 and "[HTTP 400]" in again.stderr


def test_download_writes_every_file_with_subdirectories(
    shoal_as_analyst: Shoal,
    submit_job: Callable[..., int],
    fake_worker: Callable[..., FakeWorker],
    tmp_path: Path,
) -> None:
    files = {"result.json": '{"id": 9}', "maps/a.tif": "tif" * 1000, "maps/deep/b.txt": "b"}
    job_id = submit_job({"id": 9})
    fake_worker(progress=[], files=files, pause=0).join()
    target = tmp_path / "out"

    result = shoal_as_analyst("jobs", "download", str(job_id), str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("downloaded 3 files (") and str(target) in result.stdout
    written = {
        str(path.relative_to(target)): path.read_text()
        for path in target.rglob("*")
        if path.is_file()
    }
    assert written == files

    only_maps = tmp_path / "maps-only"
    result = shoal_as_analyst(
        "jobs", "download", str(job_id), str(only_maps), "--filter-prefix", "maps/deep"
    )
    assert result.exit_code == 0, result.output
    assert [p.relative_to(only_maps).as_posix() for p in only_maps.rglob("*.txt")] == [
        "maps/deep/b.txt"
    ]
    assert not (only_maps / "result.json").exists()


def test_download_of_an_unfinished_job_is_refused(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], tmp_path: Path
) -> None:
    job_id = submit_job({"id": 10})
    result = shoal_as_analyst("jobs", "download", str(job_id), str(tmp_path / "out"))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "PENDING" in line and "[HTTP 400]" in line
    assert not (tmp_path / "out").exists()


def test_get_shows_the_job_and_its_json(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int]
) -> None:
    job_id = submit_job({"id": 11})
    shown = shoal_as_analyst("jobs", "get", str(job_id))
    assert shown.exit_code == 0, shown.output
    assert f"{job_id} TEST" in shown.stdout and "PENDING" in shown.stdout
    as_json = shoal_as_analyst("jobs", "get", str(job_id), "--json")
    assert json.loads(as_json.stdout)["input_payload"] == {"id": 11}
    missing = shoal_as_analyst("jobs", "get", "999999")
    assert missing.exit_code == 1 and "[HTTP 404]" in missing.stderr
