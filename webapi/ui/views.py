"""The dashboard's blueprint with every page on it (importing a module adds its pages)."""

from __future__ import annotations

from webapi.ui import (
    admin_accounts,
    admin_fleet,
    batches,
    budget_banner,
    job_list,
    job_logs,
    job_types,
    jobs,
    live,
    not_found,
    run_again,
    submit,
    usage,
    webhooks,
    workflows,
)
from webapi.ui.pages import blp

PAGE_MODULES = (
    admin_accounts,
    admin_fleet,
    batches,
    budget_banner,
    job_list,
    job_logs,
    job_types,
    jobs,
    live,
    not_found,
    run_again,
    submit,
    usage,
    webhooks,
    workflows,
)

__all__ = ["PAGE_MODULES", "blp"]
