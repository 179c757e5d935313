"""The budget banner: on every page of a user past their budget's warnAt this month
(``warning``) or at its limit (``exceeded``). The base template calls it, so partial
updates (a job's live status) never compute it; a user without a budget costs one
index lookup."""

from __future__ import annotations

from typing import Any

from webapi.jobs.runtime import jobs_runtime
from webapi.services import services
from webapi.store import budgets
from webapi.ui.pages import blp
from webapi.ui.session import optional_session


@blp.context_processor
def _banner() -> dict[str, Any]:
    return {"budget_banner": budget_banner}


def budget_banner() -> dict[str, Any] | None:
    """The viewer's month when it is in warning or exceeded; None otherwise."""
    browser = optional_session()
    if browser is None:
        return None
    user_id = browser.principal.user_id
    with services().transaction() as conn:
        budget = budgets.budget_of(conn, user_id)
        if budget is None:
            return None
        standing = budgets.standing(conn, jobs_runtime().catalogue, user_id, budget)
    if standing.state == "ok":
        return None
    share = max(standing.shares())
    return {**budgets.wire(standing), "percent": min(int(share * 100), 999)}
