"""Downloading a job's result files into a directory, with a progress bar.

Every path is checked before anything is fetched: one that would land outside the
directory (absolute, ``..``, a symlink leading out) refuses the whole download.
Files are written to ``NAME.part`` and renamed when complete, so a file that is
there is whole. The links are presigned or signed, so no credentials are sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from shared.errors import ShoalError
from shoal_cli.terminal import echo, markup

ATTEMPTS = 3
CHUNK = 64 * 1024


class UnsafePath(ShoalError):
    """A result file's path would land outside the target directory."""


class DownloadFailed(ShoalError):
    """A result file could not be downloaded."""


@dataclass(frozen=True)
class Summary:
    files: int
    size: int


def target_path(root: Path, relative: str) -> Path:
    """Where ``relative`` (a ``/``-separated path from the API) goes under ``root``."""
    pure = PurePosixPath(relative)
    if not relative or "\\" in relative or pure.is_absolute() or ".." in pure.parts:
        raise UnsafePath(f"refusing to write {relative!r}: it is not a plain relative path")
    base = root.resolve()
    target = (base / pure).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePath(f"refusing to write {relative!r}: it would land outside {root}")
    return target


def download_files(files: Mapping[str, str], root: Path, console: Console) -> Summary:
    """Fetch every ``{relativePath: url}`` into ``root``; raises on the first failure."""
    targets = {relative: target_path(root, relative) for relative in sorted(files)}
    total = 0
    timeout = httpx.Timeout(30.0, read=300.0)
    with httpx.Client(timeout=timeout, follow_redirects=True) as http, _progress(console) as bar:
        for relative, target in targets.items():
            size = _fetch(http, files[relative], target, bar, relative)
            total += size
            if not console.is_terminal:
                echo(f"{relative} ({decimal(size)})", err=True)
    return Summary(len(targets), total)


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        yield progress


def _fetch(http: httpx.Client, url: str, target: Path, progress: Progress, relative: str) -> int:
    """Download one file, retrying a broken connection; returns its size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    task = progress.add_task(markup(relative), total=None)
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                size = _stream(http, url, partial, progress, task, relative)
            except httpx.TransportError as error:
                if attempt >= ATTEMPTS:
                    raise DownloadFailed(f"downloading {relative} failed: {error}") from None
                time.sleep(0.5 * attempt)
            else:
                partial.replace(target)
                return size
    finally:
        partial.unlink(missing_ok=True)  # only a failed download leaves one


def _stream(
    http: httpx.Client, url: str, partial: Path, progress: Progress, task: TaskID, relative: str
) -> int:
    with http.stream("GET", url) as response:
        if response.is_error:
            response.read()
            detail = " ".join(response.text.split())[:200]
            raise DownloadFailed(
                f"downloading {relative} failed: HTTP {response.status_code} {detail}".rstrip()
            )
        length = response.headers.get("Content-Length")
        progress.reset(task, total=int(length) if length and length.isdigit() else None)
        size = 0
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                size += len(chunk)
                progress.advance(task, len(chunk))
    return size
