"""The worker runtime: claim a job, heartbeat, run its handler, upload results, report."""
