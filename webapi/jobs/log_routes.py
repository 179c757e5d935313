"""Job logs: workers ship an attempt's lines in batches; whoever may read the job reads them.

``POST /api/jobs/assignments/:id/logs`` (WORKER, the assignment's holder) and
``GET /api/jobs/:id/logs`` (the job's readers) as JSON, JSON lines or plain text.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from webapi.auth import require_roles
from webapi.blueprint import Blueprint
from webapi.jobs import log_schemas as schemas
from webapi.jobs.access import claimant, visible_job
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.jobs.worker_routes import WORKERS
from webapi.store.job_logs import Batch

blp = Blueprint(
    "logs",
    __name__,
    url_prefix="/api/jobs",
    description="Job logs: shipped by workers, read by whoever may read the job",
)
NEXT_HEADER = "X-Next-Cursor"
_TEXT_FORMATS = {"jsonl": "application/x-ndjson", "text": "text/plain"}
# The other formats of GET …/logs, beside the JSON page flask-smorest documents.
_FORMATS_DOC = {
    "responses": {
        200: {
            "description": (
                "format=json: a page of lines and `next`; format=jsonl: one JSON object per"
                " line; format=text: `<time> <level> [<attempt>] <message>` per line. With"
                f" jsonl and text the next page's cursor is the {NEXT_HEADER} header."
            ),
            "content": {media: {"schema": {"type": "string"}} for media in _TEXT_FORMATS.values()},
        }
    }
}


@blp.route("/assignments/<int:assignment_id>/logs", methods=["POST"])
@require_roles(*WORKERS)
@blp.arguments(schemas.LogsBody)
@blp.errors(400, 403, 404)
@blp.response(200, schemas.LogsStored)
def post_logs(body: dict[str, Any], assignment_id: int) -> dict[str, Any]:
    """Store a batch of an attempt's log lines; a retried batch is stored once.

    Taken while the assignment is its job's newest attempt and has not reported its
    result: a cancelled, expired or released attempt still flushes what it logged.
    Past the job type's ``logLimitBytes`` the attempt's oldest lines are cut.
    """
    dropped = body.get("dropped") or {"lines": 0, "bytes_": 0}
    batch = Batch(
        lines=[
            [line["seq"], line["time"], line["level"], line["stream"], line["message"]]
            for line in body["lines"]
        ],
        dropped_lines=dropped["lines"],
        dropped_bytes=dropped["bytes_"],
    )
    stored = jobs_runtime().logs.append(assignment_id, claimant("", ""), batch)
    return {"stored": stored.stored, "cut": stored.cut}


@blp.route("/<int:job_id>/logs")
@require_roles(*USERS)
@blp.arguments(schemas.LogsQuery, location="query")
@blp.errors(400, 404)
@blp.doc(**_FORMATS_DOC)
@blp.response(200, schemas.LogsPage)
def get_logs(query: dict[str, Any], job_id: int) -> Any:
    """A job's log lines by attempt and seq, a page at a time (``after`` = the last ``next``).

    Lines cut by the size limit or dropped by the worker show as one ``shoal``
    WARNING line where they were.
    """
    visible_job(job_id)
    page = jobs_runtime().logs.read(
        job_id, attempt=query.get("attempt"), cursor=query.get("after"), limit=query["limit"]
    )
    kind = query["format"]
    if kind == "json":
        return {"lines": page.lines, "next": page.next_cursor}
    if kind == "jsonl":
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in page.lines)
    else:
        body = "".join(text_line(line) + "\n" for line in page.lines)
    response = Response(body, mimetype=_TEXT_FORMATS[kind])
    if page.next_cursor:
        response.headers[NEXT_HEADER] = page.next_cursor
    return response


def text_line(line: dict[str, Any]) -> str:
    """``<time> <level> [<attempt>] <message>``: how a log line reads as text."""
    return f"{line['time']} {line['level']} [{line['attempt']}] {line['message']}"
