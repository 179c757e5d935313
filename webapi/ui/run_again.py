"""Running a finished job again from its page: as it was, or with its input edited in
the new-job form (``/jobs/new?from=ID``, prefilled)."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.errors import InvalidInput
from webapi.jobs.resubmit_routes import run_again
from webapi.jobs.user_routes import USERS
from webapi.store.records import JobRecord
from webapi.ui.jobs import viewable_job
from webapi.ui.pages import blp, page
from webapi.ui.session import current_session


@blp.route("/jobs/<int:job_id>/run-again", methods=["POST"])
@page(*USERS)
def run_job_again(job_id: int) -> ResponseReturnValue:
    """A new job with this one's type and input; ``no_cache`` computes it afresh."""
    created = run_again(
        viewable_job(job_id),
        current_session().principal.user_id,
        use_cache=not request.form.get("no_cache"),
    )
    notice = "cached" if created.cached else "submitted"
    return redirect(url_for("ui.job_detail", job_id=created.job.id, notice=notice), code=303)


def edited_job(raw: str | None) -> JobRecord | None:
    """The job whose input the new-job form starts from (``?from=ID``), if one is named."""
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput("from must be a job id.", errors={"from": ["Must be a job id."]})
    return viewable_job(int(raw))
