"""A succeeded job's result files: name, size and a download link that works in the browser."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from webapi.jobs.runtime import jobs_runtime
from webapi.store.records import JobRecord, ResultRecord

LINK_SECONDS = 3600


@dataclass(frozen=True)
class ResultFile:
    name: str
    size: int | None
    url: str


def result_files(job: JobRecord, result: ResultRecord | None) -> list[ResultFile]:
    """Every file of the job's result, sorted by name; links expire after an hour."""
    if result is None:
        return []
    runtime = jobs_runtime()
    public = (runtime.settings.public_url or request.host_url).rstrip("/")
    urls = runtime.storage.download_urls(result.storage_uri, LINK_SECONDS, public_base_url=public)
    sizes = runtime.storage.file_sizes(result.storage_uri)
    return [ResultFile(name, sizes.get(name), urls[name]) for name in sorted(urls)]


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
