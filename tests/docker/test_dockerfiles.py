"""The Dockerfiles without Docker: hadolint, the house rules, the entry point script and
the health check command, each run for real where it can be."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPONENTS = ("webapi", "manager", "worker")
# The test extra installs hadolint's binary into the virtualenv, beside this Python.
HADOLINT = shutil.which(
    "hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)


def dockerfile(component: str) -> Path:
    return DOCKER / f"{component}.Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, rest = pending.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def base_image(steps: list[tuple[str, str]]) -> str:
    [default] = [rest for keyword, rest in steps if keyword == "ARG" and "PYTHON_IMAGE" in rest]
    return default.split("=", 1)[1]


@pytest.mark.skipif(HADOLINT is None, reason="hadolint has no wheel for this platform")
@pytest.mark.parametrize("component", COMPONENTS)
def test_hadolint_finds_nothing(component: str) -> None:
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(dockerfile(component))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("component", COMPONENTS)
def test_house_rules(component: str) -> None:
    steps = instructions(dockerfile(component))
    keywords = [keyword for keyword, _ in steps]
    assert keywords.count("FROM") == 2  # a builder stage, then the runtime
    assert steps[keywords.index("FROM")][1] == "${PYTHON_IMAGE} AS builder"
    assert base_image(steps).startswith("python:3.11.") and "-slim" in base_image(steps)
    assert "latest" not in base_image(steps)
    runtime = final_stage(steps)
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE}")
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"]  # numeric and not root, and nothing runs as root after
    assert [k for k, _ in runtime].index("USER") > max(
        i for i, (k, _) in enumerate(runtime) if k in ("RUN", "COPY")
    )
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PATH=/opt/venv/bin:"):
        assert setting in env, setting
    for keyword, rest in steps:
        if keyword == "RUN" and "pip install" in rest:
            assert "--no-cache-dir" in rest, rest
    assert f"ARG EXTRAS={component}" in [f"{k} {r}" for k, r in steps]
    assert ("ENTRYPOINT", '["shoal-entrypoint"]') in runtime
    [command] = [rest for keyword, rest in runtime if keyword == "CMD"]
    assert json.loads(command) == [component]


def test_only_the_webapi_image_has_a_health_check_and_a_port() -> None:
    for component in COMPONENTS:
        runtime = [k for k, _ in final_stage(instructions(dockerfile(component)))]
        expected = component == "webapi"
        assert ("HEALTHCHECK" in runtime, "EXPOSE" in runtime) == (expected, expected), component
    runtime = final_stage(instructions(dockerfile("webapi")))
    assert ("EXPOSE", "8000") in runtime
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "SHOAL_WEBAPI_BIND=0.0.0.0:8000" in env


def test_what_the_images_copy_is_in_the_build_context() -> None:
    """Each COPY source exists and is let through by .dockerignore."""
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for component in COMPONENTS:
        for keyword, rest in instructions(dockerfile(component)):
            if keyword != "COPY" or "--from=" in rest:
                continue
            *sources, _ = [part for part in rest.split() if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in allowed, source


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _run_check(command: list[str], env: dict[str, str]) -> int:
    assert command[0] == "python"
    argv = [sys.executable, *command[1:]]
    done = subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, timeout=30, check=False
    )
    return done.returncode


def test_the_health_checks_pass_on_200_and_fail_otherwise(
    health_server: tuple[str, type[_Health]],
) -> None:
    url, handler = health_server
    [check] = [r for k, r in instructions(dockerfile("webapi")) if k == "HEALTHCHECK"]
    image_check: list[str] = json.loads(check.split(" CMD ", 1)[1])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_check = compose["services"]["webapi"]["healthcheck"]["test"][1:]
    compose_check = [part.replace("http://127.0.0.1:8000", url) for part in compose_check]
    env = {"SHOAL_HEALTHCHECK_URL": f"{url}/api/health"}
    assert _run_check(image_check, env) == 0
    assert _run_check(compose_check, env) == 0
    handler.status = 503
    assert _run_check(image_check, env) != 0
    assert _run_check(compose_check, env) != 0
    assert _run_check(image_check, {"SHOAL_HEALTHCHECK_URL": "http://127.0.0.1:1/"}) != 0


@pytest.fixture
def fake_path(tmp_path: Path) -> str:
    """A PATH whose `shoal` prints its arguments, plus the system's sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shoal = bin_dir / "shoal"
    shoal.write_text('#!/bin/sh\necho "shoal $*"\n')
    shoal.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "shoal"),
        (["worker", "--job-types", "TEST"], "shoal worker --job-types TEST"),
        (["users", "create", "a@b.c"], "shoal users create a@b.c"),  # not /usr/bin/users
        (["--version"], "shoal --version"),
        (["shoal", "worker", "--job-types", "X"], "shoal worker --job-types X"),
        (["sh", "-c", "echo as given"], "as given"),
    ],
)
def test_the_entrypoint_runs_shoal_unless_given_a_program(
    fake_path: str, args: list[str], expected: str
) -> None:
    done = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *args],
        env={"PATH": fake_path},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, expected)
    assert os.access(DOCKER / "entrypoint.sh", os.X_OK)
