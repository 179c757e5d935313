"""Result files: presigned (S3) or signed (local storage) download links, and the
route that serves signed local files."""

from __future__ import annotations

from typing import Any

from flask import request, send_file
from flask.typing import ResponseReturnValue

from shared.enums import JobStatus
from shared.errors import Gone, IllegalState, NotFound
from webapi.auth import require_roles
from webapi.blueprint import Blueprint
from webapi.jobs import schemas
from webapi.jobs.access import visible_job
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.storage_cleanup import belongs_to_live_job
from webapi.jobs.user_routes import USERS
from webapi.store.records import JobRecord

blp = Blueprint(
    "files",
    __name__,
    url_prefix="/api",
    description="Result files: download links, and the signed local files they point to",
)


@blp.route("/jobs/<int:job_id>/download")
@require_roles(*USERS)
@blp.arguments(schemas.DownloadQuery, location="query")
@blp.errors(400, 404)
@blp.response(200, schemas.DownloadOut)
def download(query: dict[str, Any], job_id: int) -> dict[str, Any]:
    """Links to every result file of a SUCCEEDED job; they expire after ``expirySeconds``."""
    job = visible_job(job_id)
    if job.status is not JobStatus.SUCCEEDED:
        raise IllegalState(f"Job {job_id} is {job.status.value}; only a SUCCEEDED job has files")
    return {"job": job, "files": job_files(job, query)}


def job_files(job: JobRecord, query: dict[str, Any]) -> dict[str, str]:
    """Links to a job's result files (none unless it SUCCEEDED), as ``query`` asks:
    valid for ``expirySeconds``, names starting with ``filterPrefix``."""
    runtime = jobs_runtime()
    result = runtime.reader.result(job.id) if job.status is JobStatus.SUCCEEDED else None
    if result is None:
        return {}
    public = runtime.settings.public_url or request.host_url
    return runtime.storage.download_urls(
        result.storage_uri,
        query["expirySeconds"],
        query.get("filterPrefix"),
        public_base_url=public.rstrip("/"),
    )


# Read from ``request.args`` (a bad link is a 403, not a 400); documented here.
_LINK_PARAMETERS = [
    {
        "in": "query",
        "name": name,
        "required": True,
        "schema": schema,
        "description": description,
    }
    for name, schema, description in [
        ("expires", {"type": "integer"}, "When the link expires (Unix time)"),
        ("signature", {"type": "string"}, "The link's signature"),
    ]
]


@blp.route("/storage/local/<path:relative_path>")
@blp.errors(403, 404, 410)
@blp.doc(parameters=_LINK_PARAMETERS)
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
def local_file(relative_path: str) -> ResponseReturnValue:
    """A locally stored result file, for a link signed by ``/download``.

    A link to a file of a deleted job is 410, at once (its files go in the background).
    """
    runtime = jobs_runtime()
    storage = runtime.storage
    verify = getattr(storage, "verify", None)
    if verify is None:
        raise NotFound("Results are not stored locally")
    args = request.args
    try:
        path = verify(relative_path, args.get("expires", ""), args.get("signature", ""))
    except NotFound:  # a good link to a missing file: it may be a deleted job's
        path = None
    if not belongs_to_live_job(runtime.queue.engine, storage.base_uri(), relative_path):
        raise Gone("The job this file belonged to was deleted")
    if path is None or not path.is_file():
        raise NotFound("No such file")
    # Always a download: a result file is never rendered by a browser on the API's origin.
    return send_file(
        path, mimetype="application/octet-stream", as_attachment=True, download_name=path.name
    )
