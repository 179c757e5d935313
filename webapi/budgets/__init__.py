"""``/api/budgets``: monthly limits on what users' submissions commit, and the caller's
standing under theirs."""
