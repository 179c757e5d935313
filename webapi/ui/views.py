"""The dashboard's blueprint with every page on it (importing a module adds its pages)."""

from __future__ import annotations

from webapi.ui import (
    admin_accounts,
    admin_fleet,
    job_logs,
    job_types,
    jobs,
    live,
    submit,
    webhooks,
)
from webapi.ui.pages import blp

PAGE_MODULES = (admin_accounts, admin_fleet, job_logs, job_types, jobs, live, submit, webhooks)

__all__ = ["PAGE_MODULES", "blp"]
