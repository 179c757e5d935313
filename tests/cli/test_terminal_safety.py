"""What the commands print of the server's text cannot drive the terminal: log lines,
progress messages, errors and log tails from a hostile job (one the shared cache may
hand to anyone) come out with every control character escaped, on a terminal and
into a pipe; raw JSON keeps the text as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from click.testing import CliRunner, Result

from shoal_cli.main import cli
from tests.cli.conftest import CLIENT_VARIABLES, FakeWorker

# Clear the screen, set the window title, a hidden link, overwrite the line (CR,
# backspace), and CSI in its one-byte C1 form.
HOSTILE = (
    "\x1b[2J\x1b]0;pwned\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    "\rfake\x08\x08X\x9b31mred\x7f"
)
ESCAPED = (
    "\\x1b[2J\\x1b]0;pwned\\x07\\x1b]8;;https://evil.example/\\x1b\\click\\x1b]8;;\\x1b\\"
    "\\x0dfake\\x08\\x08X\\x9b31mred\\x7f"
)
ONE_LINE = ESCAPED.replace("\\x0d", " ")
# What a terminal acts on: C0 but tab and newline, DEL, C1.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _run(env: dict[str, str | None], *args: str, terminal: bool = False) -> Result:
    """A ``shoal`` command; ``terminal``: as on a TTY (click keeps escapes, rich draws)."""
    cleared: dict[str, str | None] = dict.fromkeys(CLIENT_VARIABLES)
    shown = {"COLUMNS": "400"} | ({"TTY_COMPATIBLE": "1"} if terminal else {})
    return CliRunner().invoke(cli, list(args), env={**cleared, **env, **shown}, color=terminal)


def _hostile_job(fake_worker: Callable[..., FakeWorker], submit_job: Callable[..., int]) -> int:
    job_id = submit_job({"id": 66})
    logs = [
        {"seq": 0, "time": "2026-11-30T01:00:00Z", "level": "ERROR", "stream": "log"}
        | {"message": f"multi\nline {HOSTILE}"}
    ]
    fake_worker(
        progress=[(0.5, HOSTILE)],
        logs=logs,
        outcome={"status": "FAILED", "resultPayload": None, "error": HOSTILE},
        pause=0.3,
    )
    return job_id


def test_watch_get_and_logs_escape_control_characters(
    analyst_env: dict[str, str | None],
    submit_job: Callable[..., int],
    fake_worker: Callable[..., FakeWorker],
) -> None:
    job_id = _hostile_job(fake_worker, submit_job)
    watched = _run(analyst_env, "jobs", "watch", str(job_id))  # a pipe: one line per change
    assert watched.exit_code == 1, watched.output
    piped = {
        "watch": watched,
        "get": _run(analyst_env, "jobs", "get", str(job_id)),
        "logs": _run(analyst_env, "jobs", "logs", str(job_id)),
        "logs on a terminal": _run(analyst_env, "jobs", "logs", str(job_id), terminal=True),
    }
    for name, result in piped.items():
        assert result.exit_code in (0, 1), (name, result.output)
        shown = result.stdout + result.stderr
        assert not CONTROL.search(shown), (name, shown)
        assert ESCAPED in shown, (name, shown)
    # Where the format has lines, a message's own newlines stay (a traceback reads well).
    assert f"ERROR    multi\nline {ESCAPED}\n" in piped["logs"].stdout
    # One-line forms escape them too (the outcome folds whitespace, CR included, first).
    assert watched.stdout == f"job {job_id} FAILED: {ONE_LINE}\n"
    assert f"job {job_id} IN_PROGRESS 50% {ESCAPED}" in watched.stderr.splitlines()
    # Raw JSON is the API's text, exactly (JSON escapes control characters itself).
    jsonl = _run(analyst_env, "jobs", "logs", str(job_id), "--format", "jsonl")
    assert json.loads(jsonl.stdout)["message"] == f"multi\nline {HOSTILE}"
    assert (
        json.loads(_run(analyst_env, "jobs", "get", str(job_id), "--json").stdout)["error_message"]
        == HOSTILE
    )


def test_the_live_progress_bar_escapes_them_too(
    analyst_env: dict[str, str | None],
    submit_job: Callable[..., int],
    fake_worker: Callable[..., FakeWorker],
) -> None:
    job_id = _hostile_job(fake_worker, submit_job)
    result = _run(analyst_env, "jobs", "watch", str(job_id), terminal=True)
    assert result.exit_code == 1, result.output
    # rich draws with escape sequences of its own; none of the job's gets through.
    for sequence in ("\x1b[2J", "\x1b]0;", "\x1b]8;", "\x9b", "\x08", "\x7f"):
        assert sequence not in result.stderr + result.stdout, repr(sequence)
    assert ONE_LINE in result.stdout  # the outcome line


def test_an_error_message_is_one_escaped_line(analyst_env: dict[str, str | None]) -> None:
    # The API names the fields it refuses as they were sent.
    payload = json.dumps({"id": 1, "\x1b]0;x\x07\x1b[2J": 1})
    refused = _run(analyst_env, "jobs", "submit", "TEST", "--input", payload)
    assert refused.exit_code == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: ") and not CONTROL.search(line), line
    assert "inputPayload.\\x1b]0;x\\x07\\x1b[2J: Unknown field" in line, line
