"""The README's examples, run against the real API: every file they name exists, every
input they send is accepted, and its ``shoal jobs submit`` and ``shoal types`` lines work
as written (without ``--wait``: no worker runs here)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import run_shoal

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
# The routes that take a job input or a type document (a quota or a login is not one).
INPUT_ROUTES = re.compile(r"^/api/(jobs|jobs/batch|job-types/[A-Z0-9_]+)(\?type=[A-Z0-9_]+)?$")


def _commands() -> list[list[str]]:
    """The words of each command of the README's bash blocks (continued lines and quotes
    across lines joined; comments left out)."""
    found: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on
                continue
            if words:
                found.append(words)
            pending = ""
    return found


def _curls() -> list[tuple[str, str, str]]:
    """(method, path, body) of each curl that sends a job input or a type document."""
    found = []
    for words in _commands():
        if words[0] != "curl" or not ({"-d", "--data-binary"} & set(words)):
            continue
        url = next(w for w in words if w.startswith(("localhost:", "'localhost:")))
        path = "/" + url.split("/", 1)[1]
        flag = "-d" if "-d" in words else "--data-binary"
        body = words[words.index(flag) + 1]
        if INPUT_ROUTES.match(path):
            found.append((words[words.index("-X") + 1], path, body))
    return found


def _shoal_lines(*prefixes: str) -> list[list[str]]:
    found = []
    for words in _commands():
        if words[0] == "shoal" and " ".join(words[1:3]).startswith(prefixes):
            found.append([w for w in words[1:] if w != "--wait"])
    return found


def test_every_file_the_readme_names_is_in_the_repository() -> None:
    named = {
        word.lstrip("@")
        for words in _commands()
        for before, word in zip(["", *words], words, strict=False)
        if word.startswith("@") or before == "-f" or word.endswith((".json", ".jsonl", ".yaml"))
    }
    named = {name for name in named if "/" in name or "." in name}
    assert named >= {"examples/polygon.json", "examples/sweep.jsonl"}
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert missing == []


def test_the_readmes_inputs_are_accepted_by_the_api(
    admin_env: dict[str, str | None], live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _curls()
    assert len(sent) >= 5, sent  # single, batch (JSON and JSON lines), a type, a priority
    headers = {"X-API-Key": str(admin_env["SHOAL_API_KEY"])}
    for method, path, body in sent:
        if body.startswith("@"):
            content = (ROOT / body[1:]).read_bytes()
            kind = "application/x-ndjson"
        else:
            content, kind = body.encode(), "application/json"
            json.loads(body)  # as printed, it is JSON
        answer = httpx.request(
            method, live_url + path, content=content, headers={**headers, "Content-Type": kind}
        )
        assert answer.status_code in (200, 201), (path, body, answer.text)

    monkeypatch.chdir(ROOT)  # the README's paths are from the repository's root
    lines = _shoal_lines(
        "jobs submit", "types list", "types show", "types apply", "types retire", "workflows"
    )
    assert [" ".join(words[:2]) for words in lines] == [
        "jobs submit",
        "types list",
        "jobs submit",
        "types list",
        "types show",
        "types apply",
        "types retire",
        "types apply",
        "workflows submit",
        "workflows get",
    ]
    for words in lines:
        result = run_shoal(words, {**admin_env, "COLUMNS": "200"})
        assert result.exit_code == 0, (words, result.output)


def test_the_readmes_account_commands_work_as_written(admin_env: dict[str, str | None]) -> None:
    lines = _shoal_lines("users", "api-keys")
    assert [" ".join(words[:2]) for words in lines] == [
        "users create",
        "users set",
        "users set-roles",
        "users list",
        "api-keys create",
        "api-keys create",
        "api-keys list",
    ]
    for words in lines:
        result = run_shoal(words, {**admin_env, "COLUMNS": "200"})
        assert result.exit_code == 0, (words, result.output)
    listed = run_shoal(["users", "list", "--json"], admin_env)
    [colleague] = [u for u in json.loads(listed.stdout)["users"] if u["email"].startswith("col")]
    assert (colleague["roles"], colleague["maxPending"], colleague["maxRunning"]) == (
        ["ANALYST", "WORKER"],
        None,
        20,
    )
