"""Usage and cost: the reports, the estimate before a submission, and the prices."""
