"""Fetching what a job's input takes from its parents (``shared/inputs_from``): each
resolved ``$from`` becomes a local path (one file), the parent's result payload, or a
manifest of a batch's inputs with local paths, the files downloaded into the job's
input folder first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from shared import inputs_from

TIMEOUT_SECONDS = 60.0


class InputsUnavailable(Exception):
    """A referenced file is missing, or could not be downloaded."""


def fetch(payload: Any, into: Path) -> Any:
    """``payload`` with every resolved reference replaced; the files land under ``into``
    (``job-ID/NAME``, a batch's ``batch-ID/job-ID/NAME``)."""
    if not inputs_from.refs(payload):
        return payload
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=True) as http:
        return inputs_from.replace(payload, lambda ref: _local(http, ref, into))


def _local(http: httpx.Client, reference: dict[str, Any], into: Path) -> Any:
    ref, found = reference[inputs_from.KEY], reference.get(inputs_from.RESOLVED)
    if found is None:
        raise InputsUnavailable(f"$from {ref} was not resolved by the API")
    if "batch" in ref:
        folder = into / f"batch-{ref['batch']}"
        return [_job(http, entry, folder / f"job-{entry['job']}") for entry in found["jobs"]]
    folder = into / f"job-{ref['job']}"
    name = ref.get("file")
    if name is None:
        return found["payload"]
    url = found.get("files", {}).get(name)
    if url is None:
        status = found.get("status")
        raise InputsUnavailable(f"job {ref['job']} ({status}) has no result file {name}")
    return str(_download(http, url, folder / name))


def _job(http: httpx.Client, entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    files = {name: str(_download(http, url, folder / name)) for name, url in entry["files"].items()}
    return {
        "job": entry["job"],
        "status": entry["status"],
        "payload": entry["payload"],
        "files": files,
    }


def _download(http: httpx.Client, url: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with http.stream("GET", url) as answer:
            answer.raise_for_status()
            with target.open("wb") as out:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as error:
        raise InputsUnavailable(f"{target.name} could not be downloaded: {error}") from None
    return target
