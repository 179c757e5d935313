"""A claimed job's ``$from`` references resolved for its worker (``shared/inputs_from``):
each gets ``$resolved``, the parent's status, result payload and signed links to its
result files (a batch: one entry per input), valid for ``LINK_SECONDS``."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request

from shared import inputs_from
from webapi.jobs.runtime import jobs_runtime
from webapi.store import dependencies
from webapi.store.queue import Claimed

# The worker fetches the files as the job starts: an hour is plenty.
LINK_SECONDS = 3600
# Values of an input looked through for a reference before asking the database instead.
SCAN_BUDGET = 2000


def resolved(claimed: Claimed) -> Claimed:
    """The claim, with its job's references resolved (the stored input is unchanged).

    On the claim path: a small input is looked through; a large one (a polygon of
    25,000 vertices takes 60 ms to walk) only if the job has dependencies, since a
    reference is refused at submit unless it names one.
    """
    job = claimed.job
    found = inputs_from.mentions(job.input_payload, SCAN_BUDGET)
    if found is None:
        found = dependencies.has_dependencies(jobs_runtime().queue.engine, job.id)
    if not found:
        return claimed
    payload = inputs_from.replace(job.input_payload, _resolve)
    return dataclasses.replace(claimed, job=dataclasses.replace(job, input_payload=payload))


def _resolve(reference: dict[str, Any]) -> dict[str, Any]:
    ref = reference[inputs_from.KEY]
    engine = jobs_runtime().queue.engine
    if "batch" in ref:
        rows = dependencies.results(engine, batch_id=ref["batch"])
        return {inputs_from.KEY: ref, inputs_from.RESOLVED: {"jobs": [_entry(r) for r in rows]}}
    rows = dependencies.results(engine, job_id=ref["job"])
    found = _entry(rows[0]) if rows else {"job": ref["job"], "status": None, "payload": None}
    return {inputs_from.KEY: ref, inputs_from.RESOLVED: found}


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    runtime = jobs_runtime()
    files: dict[str, str] = {}
    if row["storage_uri"] is not None:
        public = runtime.settings.public_url or request.host_url
        files = runtime.storage.download_urls(
            row["storage_uri"], LINK_SECONDS, None, public_base_url=public.rstrip("/")
        )
    return {
        "job": row["job_id"],
        "status": row["status"],
        "payload": row["payload"],
        "files": files,
    }
