"""The command runner through its own entry point, with real processes: a run spec built
here, a claimed job built by hand, the job's log buffer read back."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.client import Claim
from tests.e2e.helpers import wait_for
from tests.worker.command_support import (
    FixedSpec,
    kill_survivors,
    program,
    read_pids,
    running,
)
from worker.command_output import parse_progress
from worker.command_runner import CommandFailed, CommandResult, CommandRunner
from worker.joblog import LogBuffer
from worker.runspec import RunSpec

INPUT = {"region": "cairns", "threshold": 0.5}
# Writes $RESULT as output/result.json.
WRITE_RESULT = [
    sys.executable,
    "-c",
    "import os, pathlib; "
    "pathlib.Path(os.environ['SHOAL_OUTPUT_DIR'], 'result.json').write_text(os.environ['RESULT'])",
]


@dataclass
class Run:
    """One command run: its outcome, what it logged and what progress it reported."""

    job_dir: Path
    buffer: LogBuffer
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: list[tuple[float, str | None]] = field(default_factory=list)
    result: CommandResult | None = None
    failed: str | None = None
    dropped: int = 0

    def lines(self) -> list[tuple[str, str, str]]:
        """(level, stream, message) of every line logged, in order (and the count of
        those the buffer dropped in ``dropped``)."""
        found = []
        while (batch := self.buffer.take()) is not None:
            found += [(line.level, line.stream, line.message) for line in batch.lines]
            self.dropped += batch.dropped_lines
        return found

    def by_stream(self) -> dict[str, list[str]]:
        """The messages logged, in order, by stream; every one at level INFO."""
        streams: dict[str, list[str]] = {}
        for level, stream, message in self.lines():
            assert level == "INFO"
            streams.setdefault(stream, []).append(message)
        return streams


def start(
    tmp_path: Path, spec: RunSpec, env: dict[str, str] | None = None, buffer_bytes: int = 1 << 20
) -> tuple[Run, threading.Thread]:
    """Run ``spec`` for job 7 (attempt 2) in a thread; the run fills in as it ends."""
    job_dir = tmp_path / "job"
    job_dir.mkdir(parents=True)
    run = Run(job_dir, LogBuffer(buffer_bytes))
    claim = Claim(
        job={"id": 7, "type": "MY_MODEL", "input_payload": INPUT, "typeRevision": 3},
        assignment={"id": 11, "attempt": 2, "storage_uri": "file:///unused"},
    )
    runner = CommandRunner(FixedSpec(spec), {**os.environ, **(env or {})})

    def body() -> None:
        try:
            run.result = runner.run(
                spec,
                claim,
                job_dir,
                report=lambda fraction, message: run.progress.append((fraction, message)),
                log_buffer=run.buffer,
                cancel=run.cancel,
            )
        except CommandFailed as error:
            run.failed = error.message

    thread = threading.Thread(target=body, daemon=True)  # a failed test must not hang
    thread.start()
    return run, thread


def run_to_end(tmp_path: Path, spec: RunSpec, env: dict[str, str] | None = None) -> Run:
    run, thread = start(tmp_path, spec, env)
    thread.join(60)
    assert not thread.is_alive(), "the run did not end"
    return run


def test_a_shell_program_logs_reports_progress_and_leaves_files_and_a_result(
    tmp_path: Path,
) -> None:
    spec = RunSpec(("sh", program("report.sh")), {"MODEL_THREADS": "4"})
    run = run_to_end(tmp_path, spec)
    assert run.failed is None and run.result is not None
    output = run.job_dir / "output"
    assert run.result == CommandResult({"_input": INPUT, "_cwd": str(run.job_dir)}, output)
    assert json.loads((run.job_dir / "input.json").read_text()) == INPUT
    assert sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()) == [
        "result.json",
        "tables/points.csv",
    ]
    assert (output / "tables" / "points.csv").read_text() == "x,y\n1,2\n"
    assert run.progress == [(0.5, "half way"), (1.0, None)]
    assert run.by_stream() == {
        "stdout": ["job 7 attempt 2 of MY_MODEL", "done"],
        "stderr": ["threads: 4"],
    }


def test_a_python_program_gets_its_input_but_not_the_workers_credentials(
    tmp_path: Path,
) -> None:
    spec = RunSpec((sys.executable, program("report.py")))
    run = run_to_end(tmp_path, spec, env={"SHOAL_API_KEY": "the-workers-key"})
    assert run.failed is None and run.result is not None
    assert run.result.payload == {"_input": INPUT, "_worker_key_seen": False}
    assert (run.job_dir / "output" / "summary.txt").read_text() == "2 keys\n"
    assert run.progress == [(0.25, "reading"), (0.75, None)]
    assert run.by_stream() == {"stdout": ["job 7 attempt 2", "done"], "stderr": ["threads: unset"]}


def test_a_non_zero_exit_fails_with_the_code_and_the_last_20_lines(tmp_path: Path) -> None:
    run = run_to_end(tmp_path, RunSpec(("sh", program("fail.sh"))))
    assert run.result is None
    assert run.failed == "The command exited with code 3.\nIts last 20 lines of output:\n" + (
        "\n".join(f"line {n}" for n in range(6, 26))
    )
    assert len(run.lines()) == 25  # every line is in the log


def test_a_program_killed_by_a_signal_is_named(tmp_path: Path) -> None:
    spec = RunSpec(("sh", "-c", "echo bye; kill -SEGV $$"))
    run = run_to_end(tmp_path, spec)
    assert run.failed == "The command was killed by SIGSEGV (11).\nIts last line of output:\nbye"


def test_a_job_cancelled_before_its_command_started_starts_nothing(tmp_path: Path) -> None:
    spec = RunSpec(("sh", "-c", f"touch {tmp_path / 'ran'}"))
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    cancelled = threading.Event()
    cancelled.set()
    claim = Claim(job={"id": 7, "type": "MY_MODEL"}, assignment={"id": 11, "attempt": 1})
    runner = CommandRunner(FixedSpec(spec), os.environ)
    buffer = LogBuffer(1 << 20)
    ran = runner.run(spec, claim, job_dir, report=print, log_buffer=buffer, cancel=cancelled)
    assert ran is None
    assert buffer.take() is None  # no command to stop: not a line logged
    assert not (tmp_path / "ran").exists()


def test_a_program_that_cannot_start_fails_the_job(tmp_path: Path) -> None:
    run = run_to_end(tmp_path, RunSpec((str(tmp_path / "no-such-program"),)))
    assert run.failed == (
        "The command could not start: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'no-such-program'}'"
    )


SCHEMA = {
    "type": "object",
    "properties": {"cells": {"type": "integer", "minimum": 0}},
    "required": ["cells"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("written", "error"),
    [
        ('{"cells": 3', "result.json is not valid JSON: Expecting ',' delimiter: line 1 column 12"),
        ("[1, 2]", "result.json must hold a JSON object, not an array"),
        ('{"cells": NaN}', "result.json is not valid JSON: NaN is not a JSON value"),
        (
            '{"cells": -1}',
            "result.json does not match the job type's result schema: "
            "result.json.cells: -1 is less than the minimum of 0",
        ),
        (
            '{"cells": 1, "rows": 2}',
            "result.json does not match the job type's result schema: result.json: "
            "Additional properties are not allowed ('rows' was unexpected)",
        ),
    ],
)
def test_a_bad_result_json_fails_naming_the_problem(
    tmp_path: Path, written: str, error: str
) -> None:
    run = run_to_end(
        tmp_path, RunSpec(tuple(WRITE_RESULT), result_schema=SCHEMA), {"RESULT": written}
    )
    assert run.result is None
    assert run.failed is not None and run.failed.startswith(error)


def test_no_result_json_is_an_empty_result_checked_like_any(tmp_path: Path) -> None:
    assert run_to_end(tmp_path / "a", RunSpec(("true",))).result is not None
    run = run_to_end(tmp_path / "b", RunSpec(("true",), result_schema=SCHEMA))
    assert run.failed == (
        "The command wrote no result.json, and {} does not match the job type's result "
        "schema: result.json: 'cells' is a required property"
    )


def test_metadata_keys_of_a_result_are_kept_outside_its_schema(tmp_path: Path) -> None:
    written = '{"cells": 4, "_perf": {"seconds": 1.5}}'
    run = run_to_end(
        tmp_path, RunSpec(tuple(WRITE_RESULT), result_schema=SCHEMA), {"RESULT": written}
    )
    assert run.result is not None
    assert run.result.payload == {"cells": 4, "_perf": {"seconds": 1.5}}


@pytest.fixture
def pids_file(tmp_path: Path) -> Iterator[Path]:
    """Where a program writes its pids; what is left running is killed afterwards."""
    path = tmp_path / "pids"
    yield path
    kill_survivors(path)


def wait_for_pids(path: Path) -> list[int]:
    wait_for(path.exists, 30, f"{path.name} from the program")
    return read_pids(path)


def test_a_cancelled_program_and_its_grandchild_stop_on_sigterm(
    tmp_path: Path, pids_file: Path
) -> None:
    spec = RunSpec(("sh", program("fork.sh"), "wait"), {"PIDS_FILE": str(pids_file)}, 30.0)
    run, thread = start(tmp_path, spec)
    pids = wait_for_pids(pids_file)
    assert all(running(pid) for pid in pids)
    run.cancel.set()
    thread.join(20)  # far less than the 30 s grace: SIGTERM to the group was enough
    assert not thread.is_alive()
    assert (run.result, run.failed) == (None, None)
    assert [pid for pid in pids if running(pid)] == []
    assert [message for _, stream, message in run.lines() if stream == "log"] == [
        "The job is stopping: SIGTERM to the command's process group"
    ]


def test_a_program_that_ignores_sigterm_is_killed_with_its_child(
    tmp_path: Path, pids_file: Path
) -> None:
    spec = RunSpec(("sh", program("hang.sh")), {"PIDS_FILE": str(pids_file)}, 0.5)
    run, thread = start(tmp_path, spec)
    pids = wait_for_pids(pids_file)
    run.cancel.set()
    thread.join(20)
    assert not thread.is_alive()
    assert [pid for pid in pids if running(pid)] == []
    assert [message for _, stream, message in run.lines() if stream == "log"] == [
        "The job is stopping: SIGTERM to the command's process group",
        "still running 0.5 s after SIGTERM: SIGKILL to its process group",
    ]


def test_what_a_program_leaves_running_is_stopped_when_it_exits(
    tmp_path: Path, pids_file: Path
) -> None:
    spec = RunSpec(("sh", program("fork.sh"), "leave"), {"PIDS_FILE": str(pids_file)})
    run = run_to_end(tmp_path, spec)
    assert run.failed is None and run.result is not None
    [leader, grandchild] = read_pids(pids_file)
    assert not running(leader) and not running(grandchild)
    assert ("WARNING", "log", "The command left processes running: stopping them") in run.lines()


def test_a_chatty_program_never_waits_on_its_pipes(tmp_path: Path) -> None:
    # Far more than a pipe holds, on both streams, and than the buffer holds (each line
    # counts 200 bytes beside its text): the program would block on a full pipe if
    # either were left unread.
    chatty = (
        "import sys\n"
        "for n in range(50000):\n"
        "    print('out', n)\n"
        "    print('err', n, file=sys.stderr)\n"
        "print('last')\n"
    )
    run, thread = start(tmp_path, RunSpec((sys.executable, "-c", chatty)), buffer_bytes=4 << 20)
    thread.join(60)
    assert not thread.is_alive(), "the program blocked on a full pipe"
    assert run.failed is None
    lines = run.lines()
    assert [message for _, stream, message in lines if stream == "stdout"][-2:] == [
        "out 49999",
        "last",
    ]
    assert run.dropped > 0  # the oldest lines went, and were counted
    assert len(lines) + run.dropped == 100001


def test_a_long_line_is_cut_and_the_rest_of_it_skipped(tmp_path: Path) -> None:
    spec = RunSpec((sys.executable, "-c", "print('x' * 100000); print('after')"))
    run = run_to_end(tmp_path, spec)
    [(_, _, first), (_, _, second)] = run.lines()
    assert first.endswith(" [truncated]") and len(first.encode()) == 16 * 1024
    assert second == "after"


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("::progress 0.4 fitting the model", (0.4, "fitting the model")),
        ("::progress 1", (1.0, None)),
        ("::progress 1.5 past the end", (1.0, "past the end")),
        ("::progress -2", (0.0, None)),
        ("::progress nan", None),
        ("::progress half", None),
        ("::progress", None),
        ("::progressive 0.5", None),
        ("  ::progress 0.5", None),
    ],
)
def test_progress_lines(line: str, parsed: tuple[float, str | None] | None) -> None:
    assert parse_progress(line) == parsed


def test_a_malformed_progress_line_is_logged_as_it_is(tmp_path: Path) -> None:
    run = run_to_end(tmp_path, RunSpec(("echo", "::progress half")))
    assert run.progress == []
    assert run.lines() == [("INFO", "stdout", "::progress half")]
