"""The command runner: a registered job type's program, run for one claimed job.

The job's folder gets ``input.json`` (the input payload, never on a command line) and
an empty ``output/``; the command runs there, in a process group of its own, with the
worker's environment plus the type's and ``SHOAL_INPUT``, ``SHOAL_OUTPUT_DIR``,
``SHOAL_JOB_ID``, ``SHOAL_ATTEMPT`` and ``SHOAL_JOB_TYPE``. Its output lines are the
job's log (:mod:`worker.command_output`). Then:

- exit 0: ``output/result.json`` (if any) is the result payload, checked against the
  type's result schema; every file in ``output/`` is uploaded;
- any other exit, or a signal: the job fails with the command's last lines of output;
- a cancelled job (a user's cancel, the run-time limit, a lost lease, the worker
  stopping): SIGTERM to the group, SIGKILL after the type's stop grace.

Whichever way it ends, no process of the group outlives the run: what the command left
running is stopped the same way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from shared.client import Claim
from shared.errors import ShoalError
from worker import procgroup
from worker.command_output import CommandOutput, Report
from worker.joblog import LogBuffer
from worker.runspec import RunSpec, RunSpecSource

INPUT_FILE = "input.json"
OUTPUT_DIR = "output"
RESULT_FILE = "result.json"
# A result goes to the API in one request, which takes at most 1 MiB by default
# (SHOAL_MAX_BODY_BYTES); bulk data belongs in the output directory's other files.
MAX_RESULT_BYTES = 1024 * 1024
# A failed command's error: its last lines, within what the API keeps (10,000).
MAX_ERROR_CHARS = 8000
# How often a running command is checked for its end and its job for a cancellation.
WAIT_POLL_SECONDS = 0.1
# After the group is gone, how long its pipes may stay open (held by a process that
# left the group) before the run goes on without their last lines.
PIPE_CLOSE_SECONDS = 5.0
JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}
# The worker's own credentials for the API are none of the program's business.
WITHHELD = frozenset({"SHOAL_API_KEY", "SHOAL_EMAIL", "SHOAL_PASSWORD"})


class CommandFailed(ShoalError):
    """The command failed."""


@dataclass(frozen=True)
class CommandResult:
    payload: dict[str, Any]
    files: Path  # the output directory: what is uploaded


class CommandRunner:
    """Runs the commands of a worker's registered job types; one per worker process."""

    def __init__(self, specs: RunSpecSource, base_env: Mapping[str, str]) -> None:
        self.specs = specs
        self.groups = procgroup.LiveGroups()
        self._base_env = {name: value for name, value in base_env.items() if name not in WITHHELD}

    def run(
        self,
        spec: RunSpec,
        claim: Claim,
        job_dir: Path,
        *,
        report: Report,
        log_buffer: LogBuffer,
        cancel: threading.Event,
    ) -> CommandResult | None:
        """Run ``spec``'s command for ``claim`` in ``job_dir`` (an existing, empty folder):
        its result, or None when ``cancel`` stopped it. CommandFailed when it failed."""
        job_dir = job_dir.absolute()
        output = job_dir / OUTPUT_DIR
        output.mkdir()
        (job_dir / INPUT_FILE).write_text(json.dumps(claim.job.get("input_payload")))

        def note(level: str, message: str) -> None:
            log_buffer.add(level, "log", message)

        env = self._environment(spec, claim, job_dir, output)
        if cancel.is_set():
            return None  # stopped before it started (a worker stopping meanwhile)
        try:
            process = procgroup.start(spec.command, env=env, cwd=job_dir)
        except OSError as error:
            raise CommandFailed(f"The command could not start: {error}") from None
        self.groups.add(process)
        printed = CommandOutput(log_buffer, report, str(claim.job_id))
        try:
            assert process.stdout is not None and process.stderr is not None  # both piped
            printed.start(process.stdout, process.stderr)
            code = _wait(process, cancel)
            if code is None:
                note("WARNING", "The job is stopping: SIGTERM to the command's process group")
            elif procgroup.group_alive(process):
                note("WARNING", "The command left processes running: stopping them")
            procgroup.stop_group(process, spec.stop_grace_seconds, note)
            if not printed.join(PIPE_CLOSE_SECONDS):
                note("WARNING", "A process outside the command's group still holds its output")
        finally:
            procgroup.kill_group(process)  # whatever went wrong above, nothing outlives the run
            self.groups.discard(process)
        if code is None or cancel.is_set():
            return None
        if code != 0:
            raise CommandFailed(failure_message(code, printed.tail()))
        return CommandResult(read_result(output / RESULT_FILE, spec), output)

    def _environment(
        self, spec: RunSpec, claim: Claim, job_dir: Path, output: Path
    ) -> dict[str, str]:
        return {
            **self._base_env,
            **spec.environment,
            "SHOAL_INPUT": str(job_dir / INPUT_FILE),
            "SHOAL_OUTPUT_DIR": str(output),
            "SHOAL_JOB_ID": str(claim.job_id),
            "SHOAL_ATTEMPT": str(claim.assignment.get("attempt", "")),
            "SHOAL_JOB_TYPE": claim.job_type,
        }


def _wait(process: subprocess.Popen[bytes], cancel: threading.Event) -> int | None:
    """The command's exit code, or None as soon as the job is cancelled."""
    while process.poll() is None:
        if cancel.wait(WAIT_POLL_SECONDS):
            return None
    return process.returncode


def failure_message(code: int, tail: list[str]) -> str:
    """The error of a command that did not exit 0: how it ended, then its last lines
    (the newest kept when they are too long together)."""
    if code < 0:
        try:
            ended = f"The command was killed by {signal.Signals(-code).name} ({-code})"
        except ValueError:
            ended = f"The command was killed by signal {-code}"
    else:
        ended = f"The command exited with code {code}"
    if not tail:
        return f"{ended} and printed nothing."
    last = "line" if len(tail) == 1 else f"{len(tail)} lines"
    header = f"{ended}.\nIts last {last} of output:\n"
    lines = "\n".join(tail)
    room = MAX_ERROR_CHARS - len(header)
    if len(lines) > room:
        lines = "…" + lines[-(room - 1) :]
    return header + lines


def read_result(path: Path, spec: RunSpec) -> dict[str, Any]:
    """The result payload of ``result.json`` (``{}`` when there is none), checked
    against the type's result schema; CommandFailed naming what is wrong."""
    payload: Any = {}
    if path.is_file():
        size = path.stat().st_size
        if size > MAX_RESULT_BYTES:
            raise CommandFailed(
                f"result.json is {size:,} bytes; a result may be {MAX_RESULT_BYTES:,} at most "
                "(other files in the output directory may be as large as they need)"
            )
        try:
            payload = json.loads(path.read_bytes(), parse_constant=_not_json)
        except (ValueError, RecursionError) as error:
            raise CommandFailed(f"result.json is not valid JSON: {error}") from None
        if not isinstance(payload, dict):
            kind = JSON_KINDS.get(type(payload), type(payload).__name__)
            raise CommandFailed(f"result.json must hold a JSON object, not {kind}")
    elif path.exists():
        raise CommandFailed("result.json in the output directory is not a file")
    # Keys starting with "_" are the result's metadata, outside the schema (as the API does).
    problems = spec.result_problems({k: v for k, v in payload.items() if not k.startswith("_")})
    if problems:
        written = "result.json" if path.is_file() else "The command wrote no result.json, and {}"
        raise CommandFailed(
            f"{written} does not match the job type's result schema: {'; '.join(problems)}"
        )
    return dict(payload)


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")
