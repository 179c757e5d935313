"""Researchers' sweeps: my batches, one batch (live counts, ETA, failed inputs, cancel),
and all of a batch's results as one zip."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.enums import JobStatus
from webapi.jobs.batch_routes import archive_response, cancel_live, visible_batch
from webapi.jobs.runtime import jobs_runtime
from webapi.jobs.user_routes import USERS
from webapi.store.queue_batches import BatchStatus
from webapi.store.queue_reads import decode_cursor, page_of
from webapi.store.records import BatchRecord
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.ui.usage_data import batch_usage

PAGE_SIZE = 20
FAILED_SHOWN = 50
BAR_WIDTH = 1000
NOTICES = {"cancelled": "The batch's live jobs were cancelled."}
# The bar's order: finished first, then what is still to come.
BAR = [
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.TIMED_OUT,
    JobStatus.CANCELLED,
    JobStatus.IN_PROGRESS,
    JobStatus.PENDING,
]


@blp.route("/batches")
@page(*USERS)
def my_batches() -> ResponseReturnValue:
    """The viewer's batches, newest first, by cursor pages (a bad cursor is a 400)."""
    cursor = request.args.get("cursor") or None
    found = jobs_runtime().batches.mine(
        current_session().principal.user_id, limit=PAGE_SIZE, cursor=cursor
    )
    return render_page(
        "batches.html", batches=found.items, next_cursor=found.next_cursor, paged=bool(cursor)
    )


def viewable_batch(batch_id: int) -> BatchRecord:
    """The batch if the viewer may see it (its creator or an admin); 404 / 403 otherwise."""
    return visible_batch(batch_id, current_session().principal)


@blp.route("/batches/<int:batch_id>")
@page(*USERS)
def batch_page(batch_id: int) -> ResponseReturnValue:
    """Counts per status as a bar, progress, ETA and failed inputs; polled while it runs."""
    batch = viewable_batch(batch_id)
    runtime = jobs_runtime()
    after = decode_cursor(request.args.get("cursor") or None)  # failed inputs after it
    failed = runtime.batches.failed(batch.id, limit=FAILED_SHOWN + 1, after=after)
    failed_page = page_of(failed, FAILED_SHOWN, lambda member: member.input_index)
    status = runtime.batches.status(batch)
    return render_page(
        "batch.html",
        batch=batch,
        summary=status,
        bar=_bar(status),
        failed=failed_page.items,
        failed_total=status.counts[JobStatus.FAILED] + status.counts[JobStatus.TIMED_OUT],
        failed_next=failed_page.next_cursor,
        live=status.finished < 1,
        duration=_duration,
        usage=batch_usage(batch.id),
        notice=NOTICES.get(request.args.get("notice", ""), ""),
    )


def _bar(status: BatchStatus) -> list[tuple[str, int, float, float]]:
    """``(status, inputs, x, width)`` of each status with inputs, in bar order, on a bar
    ``BAR_WIDTH`` wide (an SVG: the page's policy allows no inline styles)."""
    segments, x = [], 0.0
    for s in BAR:
        if status.counts[s]:
            width = BAR_WIDTH * status.counts[s] / status.batch.size
            segments.append((s.value, status.counts[s], x, width))
            x += width
    return segments


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02} min"
    return f"{minutes} min {secs:02} s" if minutes else f"{secs} s"


@blp.route("/batches/<int:batch_id>/cancel", methods=["POST"])
@page(*USERS)
def cancel_batch(batch_id: int) -> ResponseReturnValue:
    batch = viewable_batch(batch_id)
    cancel_live(batch, current_session().principal)
    return redirect(url_for("ui.batch_page", batch_id=batch.id, notice="cancelled"), code=303)


@blp.route("/batches/<int:batch_id>/archive")
@page(*USERS)
def batch_archive(batch_id: int) -> ResponseReturnValue:
    """The API's archive for the dashboard's session (the API takes no cookie)."""
    return archive_response(viewable_batch(batch_id))
