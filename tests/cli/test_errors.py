"""Settings and connection failures: one line on stderr, exit 2 or 1, never a traceback."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest
from rich.console import Console

from shoal_cli.downloads import DownloadFailed, UnsafePath, download_files, target_path
from tests.cli.conftest import Shoal, run_shoal
from tests.shared.client.scripted_server import Reply, serve

COMMANDS = [
    ["jobs", "submit", "TEST", "--input", "{}"],
    ["jobs", "watch", "1"],
    ["jobs", "download", "1", "out"],
    ["admin", "status"],
    ["admin", "scale", "1"],
]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SHOAL_API_KEY": "k"}, "SHOAL_API_URL"),
        ({"SHOAL_API_URL": "ftp://x", "SHOAL_API_KEY": "k"}, "SHOAL_API_URL"),
        ({"SHOAL_API_URL": "http://127.0.0.1:1"}, "SHOAL_API_KEY"),
        ({"SHOAL_API_URL": "http://127.0.0.1:1", "SHOAL_EMAIL": "a@b.c"}, "SHOAL_PASSWORD"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(env: dict[str, str | None], named: str) -> None:
    for args in COMMANDS:
        result = run_shoal(args, env)
        assert result.exit_code == 2, (args, result.output)
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and named in line
        assert result.stdout == ""


def test_an_api_that_is_down_is_one_line_and_exit_1() -> None:
    env: dict[str, str | None] = {
        "SHOAL_API_URL": f"http://127.0.0.1:{_closed_port()}",
        "SHOAL_API_KEY": "k",
    }
    for args in COMMANDS:
        started = time.monotonic()
        result = run_shoal(args, env)
        assert result.exit_code == 1, (args, result.output)
        [line] = result.stderr.splitlines()
        assert line.startswith("error: cannot reach the shoal API") and "Connection" in line
        assert time.monotonic() - started < 10  # a few quick retries, then give up


def test_wrong_credentials_are_one_line(shoal_as_analyst: Shoal) -> None:
    result = shoal_as_analyst("jobs", "get", "1", SHOAL_PASSWORD="wrong password")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "Invalid credentials" in line and "[HTTP 401]" in line


@pytest.mark.parametrize(
    "relative",
    ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "", ".", "a\\..\\b", "link/x"],
)
def test_paths_that_escape_the_directory_are_refused(tmp_path: Path, relative: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePath):
        target_path(root, relative)


def test_plain_relative_paths_land_inside(tmp_path: Path) -> None:
    assert target_path(tmp_path, "maps/a.tif") == tmp_path.resolve() / "maps" / "a.tif"
    assert target_path(tmp_path, "./x.json") == tmp_path.resolve() / "x.json"


def test_a_failed_download_says_which_file_and_leaves_no_partial_file(tmp_path: Path) -> None:
    with serve() as server:
        server.on("GET", "/files/a.txt", Reply(200, "a"))
        server.on("GET", "/files/b.txt", Reply(403, {"message": "Link expired"}))
        files = {"a.txt": f"{server.url}/files/a.txt", "b.txt": f"{server.url}/files/b.txt"}
        with pytest.raises(DownloadFailed) as caught:
            download_files(files, tmp_path, Console(file=io.StringIO()))
    assert "b.txt" in caught.value.message and "HTTP 403" in caught.value.message
    assert "Link expired" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert all("Authorization" not in r.headers for r in server.requests)  # links are signed
